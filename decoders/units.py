"""Vendor units to canonical units.

A conversion is `(shift, multiply, divide)`: canonical = (vendor + shift) * multiply / divide.
Division stays a division so that 4232 mm gives exactly 4.232 m, as a person would write it.
Unit spellings are normalised first: Decentlab writes `µS⋅cm⁻¹`, others `uS/cm`.
"""

from types import MappingProxyType

Conversion = tuple[float, float, float]

_SPELLINGS = MappingProxyType(
    {
        "degC": "°C",
        "C": "°C",
        "℃": "°C",
        "deg C": "°C",
        "degF": "°F",
        "F": "°F",
        "℉": "°F",
        "deg F": "°F",
        "%RH": "%",
        "% RH": "%",
        "percent": "%",
        "lux": "lx",
        "Lux": "lx",
        "mbar": "hPa",
        "millibar": "hPa",
        "µS⋅cm⁻¹": "µS/cm",
        "uS/cm": "µS/cm",
        "μS/cm": "µS/cm",
        "mS⋅cm⁻¹": "mS/cm",
        "mg⋅L⁻¹": "mg/L",
        "mg/l": "mg/L",
        "µg⋅m⁻³": "µg/m³",
        "ug/m3": "µg/m³",
        "μg/m³": "µg/m³",
        "µg/m3": "µg/m³",
        "mg⋅m⁻³": "mg/m³",
        "mg/m3": "mg/m³",
        "volt": "V",
        "v": "V",
    }
)

# (vendor unit, canonical unit) -> conversion; only pairs a sensor actually reports.
_CONVERSIONS: MappingProxyType[tuple[str, str], Conversion] = MappingProxyType(
    {
        ("°F", "°C"): (-32.0, 5.0, 9.0),
        ("K", "°C"): (-273.15, 1.0, 1.0),
        ("Pa", "hPa"): (0.0, 1.0, 100.0),
        ("kPa", "hPa"): (0.0, 10.0, 1.0),
        ("bar", "hPa"): (0.0, 1000.0, 1.0),
        ("psi", "hPa"): (0.0, 68.94757293168361, 1.0),
        ("mm", "m"): (0.0, 1.0, 1000.0),
        ("cm", "m"): (0.0, 1.0, 100.0),
        ("ft", "m"): (0.0, 0.3048, 1.0),
        ("mV", "V"): (0.0, 1.0, 1000.0),
        ("mS/cm", "µS/cm"): (0.0, 1000.0, 1.0),
        ("ppm", "ppb"): (0.0, 1000.0, 1.0),
        ("ppb", "ppm"): (0.0, 1.0, 1000.0),
        ("ppm", "mg/L"): (0.0, 1.0, 1.0),
        ("µg/m³", "mg/m³"): (0.0, 1.0, 1000.0),
        ("mg/m³", "µg/m³"): (0.0, 1000.0, 1.0),
        ("klx", "lx"): (0.0, 1000.0, 1.0),
        ("FNU", "NTU"): (0.0, 1.0, 1.0),
    }
)

IDENTITY: Conversion = (0.0, 1.0, 1.0)


def normalise_unit(unit: str) -> str:
    """The one spelling wherry uses for a unit (`µS⋅cm⁻¹` → `µS/cm`)."""
    unit = unit.strip()
    return _SPELLINGS.get(unit, unit)


def conversion(vendor_unit: str | None, canonical_unit: str) -> Conversion | None:
    """How to turn a value in `vendor_unit` into `canonical_unit`; None when impossible.

    A vendor field without a unit is taken to be in the canonical unit already.
    """
    if vendor_unit is None:
        return IDENTITY
    unit = normalise_unit(vendor_unit)
    if unit == canonical_unit:
        return IDENTITY
    return _CONVERSIONS.get((unit, canonical_unit))


def convert(value: float, how: Conversion) -> float:
    """Apply a conversion to one value."""
    shift, multiply, divide = how
    if how is IDENTITY:
        return float(value)
    return (value + shift) * multiply / divide

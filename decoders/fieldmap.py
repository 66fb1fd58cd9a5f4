"""Field maps: which vendor field is which canonical quantity, for one device.

A device's field map overrides and extends its decoder's default map; mapping a field to
an empty name (or `-`) removes a default. A map is compiled once into a plan that also
holds the unit conversion and plausible range of every entry, so per-uplink work is
a table walk.
"""

from __future__ import annotations

from collections.abc import Mapping

from decoders.decoder import Decoder
from decoders.errors import DecodeError
from decoders.plausibility import PROBE_QUANTITIES
from decoders.quantities import QUANTITIES
from decoders.units import IDENTITY, Conversion, conversion

# (vendor field, quantity, canonical unit, conversion or None for none, min, max, is a probe,
#  role in deriving the dew point: NO_ROLE, AIR_TEMPERATURE, RELATIVE_HUMIDITY or DEW_POINT)
PlanEntry = tuple[str, str, str, Conversion | None, float, float, bool, int]

NO_ROLE, AIR_TEMPERATURE, RELATIVE_HUMIDITY, DEW_POINT = 0, 1, 2, 3
_ROLES = {
    "air_temperature": AIR_TEMPERATURE,
    "relative_humidity": RELATIVE_HUMIDITY,
    "dew_point": DEW_POINT,
}

Plan = tuple[PlanEntry, ...]  # a compiled field map: one entry per mapped vendor field

_REMOVE = frozenset({"", "-"})


class FieldMapError(DecodeError):
    """A field map names an unknown quantity or a unit that cannot become the quantity's.

    A subclass of DecodeError so that `decode` still raises only DecodeError; check maps
    when a device is registered (`check_field_map`) to catch this before any uplink.
    """


def parse_field_map(text: str) -> dict[str, str]:
    """Read the CSV form `vendor_field=quantity;…` (the `field_map` column of devices.csv)."""
    result: dict[str, str] = {}
    for number, entry in enumerate(text.split(";"), start=1):
        entry = entry.strip()
        if not entry:
            continue
        field, sep, quantity = entry.partition("=")
        if not sep or not field.strip():
            raise FieldMapError(
                f"field map entry {number} ({entry!r}) is not vendor_field=quantity"
            )
        result[field.strip()] = quantity.strip()
    return result


def merged(defaults: Mapping[str, str], field_map: Mapping[str, str] | None) -> dict[str, str]:
    """The decoder's defaults with the device's entries laid over them."""
    result = dict(defaults)
    for field, quantity in (field_map or {}).items():
        if not isinstance(field, str) or not isinstance(quantity, str):
            raise FieldMapError(
                f"field map entries must map text to text, got {field!r}: {quantity!r}"
            )
        if quantity.strip() in _REMOVE:
            result.pop(field, None)
        else:
            result[field] = quantity.strip()
    return result


def compile_plan(decoder: Decoder, field_map: Mapping[str, str] | None) -> Plan:
    """The per-uplink plan for `decoder` with a device's `field_map`; FieldMapError if wrong."""
    entries: list[PlanEntry] = []
    for field, name in merged(decoder.default_field_map, field_map).items():
        quantity = QUANTITIES.get(name)
        if quantity is None:
            raise FieldMapError(
                f"{decoder.id}: field map sends {field!r} to unknown quantity {name!r}; "
                f"known quantities: {', '.join(sorted(QUANTITIES))}"
            )
        vendor_unit = decoder.vendor_unit(field)
        how = conversion(vendor_unit, quantity.unit)
        if how is None:
            raise FieldMapError(
                f"{decoder.id}: field map sends {field!r} ({vendor_unit}) to {name}, "
                f"which is in {quantity.unit}; wherry cannot convert {vendor_unit} to "
                f"{quantity.unit}"
            )
        entries.append(
            (
                field,
                name,
                quantity.unit,
                None if how is IDENTITY else how,
                quantity.minimum,
                quantity.maximum,
                name in PROBE_QUANTITIES,
                _ROLES.get(name, NO_ROLE),
            )
        )
    return tuple(entries)

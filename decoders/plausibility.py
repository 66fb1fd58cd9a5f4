"""Plausibility: values a sensor cannot have meant are flagged, never used as truth.

A flagged reading keeps its value and carries `invalid_reason`, a short machine code
followed by words for the engineer: `probe_error: 85.0 °C is the DS18B20 power-on value`.
Codes: `not_finite`, `probe_error`, `out_of_range`, `not_a_number`, `unit_mismatch`.
Single-sample jumps need the sensor's history and are judged by the alert engine.
"""

import math
from collections.abc import Mapping
from types import MappingProxyType

from decoders.quantities import Quantity

# Values a DS18B20 reports when it is not measuring. Road and water probes are DS18B20s
# (or behave alike) often enough that these exact values are never trusted from them.
PROBE_ERROR_CODES: Mapping[float, str] = MappingProxyType(
    {
        85.0: "85.0 °C is the DS18B20 power-on value (the probe has not converted yet)",
        -127.0: "-127.0 °C is the DS18B20 'no probe' value (disconnected or broken lead)",
    }
)

PROBE_QUANTITIES = frozenset({"road_surface_temperature", "water_temperature"})


def invalid_reason(quantity: Quantity, value: float) -> str | None:
    """Why `value` cannot be a real `quantity` measurement, or None when it can."""
    if not math.isfinite(value):
        return f"not_finite: {value} is not a measurement"
    if quantity.name in PROBE_QUANTITIES:
        code = PROBE_ERROR_CODES.get(value)
        if code is not None:
            return f"probe_error: {code}"
    if not quantity.minimum <= value <= quantity.maximum:
        unit = quantity.unit
        return (
            f"out_of_range: {value:g} {unit} is outside the plausible range of "
            f"{quantity.name}, {quantity.minimum:g} to {quantity.maximum:g} {unit}"
        )
    return None

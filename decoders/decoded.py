"""The result of decoding one uplink."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from decoders.readings import Reading


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the vendor's decoder says (`vendor_fields`) and what wherry makes of it (`readings`).

    `vendor_fields` uses the vendor's names, flattened (`gps_1.latitude`), so an engineer
    can compare it with the vendor's documentation. `readings` holds one canonical reading
    per mapped vendor field present, plausibility applied, then any derived quantities.
    """

    vendor_fields: dict[str, Any]
    readings: tuple[Reading, ...]

    def reading(self, quantity: str) -> Reading | None:
        """The first reading of `quantity`, or None."""
        for each in self.readings:
            if each.quantity == quantity:
                return each
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; values that are not finite numbers become null."""
        return {
            "vendor_fields": {key: _json_value(value) for key, value in self.vendor_fields.items()},
            "readings": [
                {
                    "quantity": each.quantity,
                    "value": _json_value(each.value),
                    "unit": each.unit,
                    "source_field": each.source_field,
                    "valid": each.valid,
                    "invalid_reason": each.invalid_reason,
                }
                for each in self.readings
            ],
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

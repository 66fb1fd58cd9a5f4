"""`ttn`: use the output of TTN's payload formatter (`decoded_payload`) instead of the bytes.

For devices whose codec runs in The Things Stack. The formatter's output is flattened into
vendor fields: nested objects become `outer.inner`, list items `name.0`, and a
Decentlab-style `{"value": …, "unit": …}` object becomes its value, with its unit used to
convert to the canonical unit. Without a unit a value is taken to be in the canonical unit
of the quantity it is mapped to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders.cayenne_lpp import DECODERS as _CAYENNE
from decoders.decoder import Decoder
from decoders.errors import DecodeError

MAX_DEPTH = 8
MAX_FIELDS = 1000
_VALUE_OBJECT_KEYS = frozenset({"value", "unit", "displayName"})


class TtnDecoder(Decoder):
    """Reads `decoded_payload`; the bytes are not looked at."""

    def decode_fields(self, payload: bytes, f_port: int | None) -> dict[str, Any]:
        self.check_port(f_port)
        raise DecodeError(
            f"{self.id}: this decoder reads TTN's decoded_payload (the payload formatter's "
            "output) and none was given; pass decoded_payload, or pick the device's own decoder"
        )

    def _decode(self, payload: bytes) -> dict[str, Any]:  # pragma: no cover - never reached
        raise DecodeError("the ttn decoder reads decoded_payload, not bytes")

    def decode_uplink(
        self, payload: bytes, f_port: int | None, decoded_payload: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], Mapping[str, str] | None]:
        """Vendor fields and the units that came with them, from TTN's decoded_payload."""
        if decoded_payload is None:
            return self.decode_fields(payload, f_port), None
        self.check_port(f_port)
        if not isinstance(decoded_payload, Mapping):
            raise DecodeError(
                f"{self.id}: decoded_payload must be a JSON object, got "
                f"{type(decoded_payload).__name__}"
            )
        fields: dict[str, Any] = {}
        units: dict[str, str] = {}
        try:
            _flatten(decoded_payload, "", fields, units, 0)
        except DecodeError as exc:
            raise DecodeError(f"{self.id}: {exc}") from None
        except Exception as exc:  # a malformed mapping must still not crash the pipeline
            raise DecodeError(
                f"{self.id}: decoded_payload could not be read ({type(exc).__name__}: {exc})"
            ) from exc
        return fields, units or None


def _is_value_object(value: Mapping[Any, Any]) -> bool:
    return "value" in value and all(key in _VALUE_OBJECT_KEYS for key in value)


def _put(name: str, value: Any, fields: dict[str, Any], units: dict[str, str], depth: int) -> None:
    if value is None:
        return
    if depth > MAX_DEPTH:
        raise DecodeError(
            f"decoded_payload is nested more than {MAX_DEPTH} levels deep at {name!r}"
        )
    if isinstance(value, bool | int | float | str):
        if len(fields) >= MAX_FIELDS:
            raise DecodeError(f"decoded_payload has more than {MAX_FIELDS} values")
        fields[name] = value
    elif isinstance(value, Mapping):
        if _is_value_object(value):
            unit = value.get("unit")
            if isinstance(unit, str):
                units[name] = unit
            _put(name, value["value"], fields, units, depth + 1)
        else:
            _flatten(value, name + ".", fields, units, depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _put(f"{name}.{index}", item, fields, units, depth + 1)
    else:
        raise DecodeError(
            f"decoded_payload field {name!r} holds a {type(value).__name__}, "
            "which is not a JSON value"
        )


def _flatten(
    obj: Mapping[Any, Any], prefix: str, fields: dict[str, Any], units: dict[str, str], depth: int
) -> None:
    for key, value in obj.items():
        _put(f"{prefix}{key}", value, fields, units, depth)


DECODERS = (
    TtnDecoder(
        id="ttn",
        vendor="The Things Network",
        model="payload formatter",
        description=(
            "TTN's decoded_payload through the device's field map; the defaults cover "
            "The Things Stack's CayenneLPP formatter and Decentlab's battery_voltage."
        ),
        f_ports=None,
        default_field_map={
            **_CAYENNE[0].default_field_map,
            "battery_voltage": "battery_voltage",
        },
    ),
)

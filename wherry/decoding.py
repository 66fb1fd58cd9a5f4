"""`wherry decode` and `wherry decoders`: the decoder registry as engineers see it."""

from __future__ import annotations

import binascii
import math
from typing import Any

from decoders import QUANTITIES, DecodeError, UnknownDecoder, all_decoders, decode
from storage.registry.validation import InvalidValue, parse_field_map


def decode_hex(
    decoder_id: str, f_port: int | None, hex_payload: str, field_map: str | None = None
) -> dict[str, Any]:
    """Decode a hex payload; raises ValueError with a message for the user on any bad input."""
    cleaned = "".join(hex_payload.split()).removeprefix("0x")
    try:
        payload = binascii.unhexlify(cleaned)
    except (binascii.Error, ValueError):
        raise ValueError(f"{hex_payload!r} is not hex: expected pairs of 0-9a-f digits") from None
    try:
        mapping = parse_field_map(field_map, set(QUANTITIES)) if field_map else None
    except InvalidValue as exc:
        raise ValueError(f"--field-map: {exc}") from None
    try:
        decoded = decode(decoder_id, payload, f_port, field_map=mapping)
    except UnknownDecoder:
        raise ValueError(f"no decoder {decoder_id!r}; `wherry decoders` lists them") from None
    except DecodeError as exc:
        raise ValueError(str(exc)) from None
    return {
        "decoder": decoder_id,
        "f_port": f_port,
        "readings": [
            {
                "quantity": r.quantity,
                "value": r.value if math.isfinite(r.value) else None,
                "unit": r.unit,
                "source_field": r.source_field,
                "valid": r.valid,
                **({"invalid_reason": r.invalid_reason} if not r.valid else {}),
            }
            for r in decoded.readings
        ],
        "vendor_fields": decoded.vendor_fields,
    }


def decoder_catalogue() -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "vendor": d.vendor,
            "model": d.model,
            "description": d.description,
            "f_ports": sorted(d.f_ports) if d.f_ports else None,
            "quantities": sorted(d.quantities),
            "default_field_map": dict(d.default_field_map),
        }
        for d in all_decoders()
    ]

"""Decoders: which ones exist, what they measure, and trying one on a payload.

The list needs no key (it documents the platform); trying a payload is for engineers
choosing a decoder or a field map for a new device.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from api.auth import Caller, require
from api.refusals import KEY_NEEDED, invalid, not_found
from api.roles import ENGINEERS
from api.schemas.registry import (
    DecoderInfo,
    DecoderList,
    PayloadTrial,
    PayloadTrialResult,
    QuantityInfo,
    TriedReading,
)
from decoders import (
    QUANTITIES,
    DecodeError,
    Decoder,
    FieldMapError,
    UnknownDecoder,
    all_decoders,
    decode,
    get_decoder,
)
from storage.registry import FieldProblem

router = APIRouter(prefix="/decoders", tags=["decoders"])

Engineer = Annotated[Caller, Depends(require(ENGINEERS))]
_SEPARATORS = re.compile(r"[\s:-]")


@router.get("", summary="Payload decoders", response_model=DecoderList)
def list_decoders() -> DecoderList:
    """Every decoder: its vendor and model, the ports it reads, the quantities it gives
    (with their canonical units) and its default field map. No key needed."""
    decoders = [_info(decoder) for decoder in all_decoders()]
    return DecoderList(count=len(decoders), decoders=decoders)


@router.post(
    "/{decoder_id}/try",
    summary="Try a payload",
    response_model=PayloadTrialResult,
    responses={**KEY_NEEDED, **not_found("decoder")},
)
def try_payload(_: Engineer, decoder_id: str, trial: PayloadTrial) -> PayloadTrialResult:
    """Decode `hex` as if a device with this decoder (and `field_map`) sent it on `f_port`:
    the vendor's fields and the normalised readings, plausibility applied. A payload the
    decoder cannot read is a 422 with the decoder's own explanation."""
    try:
        get_decoder(decoder_id)
    except UnknownDecoder as unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(unknown)) from None
    payload = _payload(trial.hex)
    try:
        decoded = decode(decoder_id, payload, trial.f_port, field_map=trial.field_map)
    except FieldMapError as problem:
        raise invalid([FieldProblem("field_map", str(problem))]) from None
    except DecodeError as problem:
        raise invalid([FieldProblem("hex", str(problem))]) from None
    shown: dict[str, Any] = decoded.to_dict()
    return PayloadTrialResult(
        decoder=decoder_id,
        vendor_fields=shown["vendor_fields"],
        readings=[TriedReading(**reading) for reading in shown["readings"]],
    )


def _payload(text: str) -> bytes:
    compact = _SEPARATORS.sub("", text)
    if compact[:2].lower() == "0x":
        compact = compact[2:]
    try:
        return bytes.fromhex(compact)
    except ValueError:
        bad = sorted({c for c in compact if c not in "0123456789abcdefABCDEF"})
        why = (
            f"contains {' '.join(repr(c) for c in bad)}"
            if bad
            else f"has {len(compact)} hex digits, not whole bytes"
        )
        raise invalid(
            [FieldProblem("hex", f"hex {why}: give the payload as hex bytes, e.g. 02 0a 39")]
        ) from None


def _info(decoder: Decoder) -> DecoderInfo:
    return DecoderInfo(
        id=decoder.id,
        vendor=decoder.vendor,
        model=decoder.model,
        description=decoder.description,
        f_ports=None if decoder.f_ports is None else sorted(decoder.f_ports),
        quantities=[
            QuantityInfo(
                quantity=name,
                unit=QUANTITIES[name].unit,
                description=QUANTITIES[name].description,
            )
            for name in sorted(decoder.quantities)
            if name in QUANTITIES
        ],
        default_field_map=dict(decoder.default_field_map),
    )

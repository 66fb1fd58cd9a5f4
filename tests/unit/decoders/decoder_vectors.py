"""Test vectors as cases: which decoder, which bytes (or decoded_payload), what must come out.

Two file shapes are read:
- The Things Network Device Repository extract (`{"devices": [...]}`): each device's
  `codec_id` names the decoder, through `Decoder.ttn_codec_ids`.
- One decoder's own vectors (`{"examples": [...], "errors": [...]}`), named after the
  decoder: `tests/vectors/<decoder-id>.json`. This is where a new decoder's vectors go.
An example's `expected.data` is the vendor decoder's output; `expected.errors`, or an entry
under `errors`, means the payload must be rejected with DecodeError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decoders import all_decoders

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
SHARED_VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "testvectors"


@dataclass(frozen=True)
class Case:
    name: str
    decoder_id: str | None  # None: no registered decoder reproduces this codec
    source: str
    f_port: int | None
    payload: bytes
    decoded_payload: Any
    expected: dict[str, Any] | None  # flattened vendor fields; None: must raise DecodeError


def _decoder_for_codec(codec_id: str) -> str | None:
    for decoder in all_decoders():
        if codec_id in decoder.ttn_codec_ids:
            return decoder.id
    return None


def _case(name: str, decoder_id: str | None, source: str, example: Mapping[str, Any]) -> Case:
    expected = example.get("expected")
    data = None
    if expected is not None and "errors" not in expected:
        data = flatten(expected["data"])
    return Case(
        name=name,
        decoder_id=decoder_id,
        source=source,
        f_port=example.get("f_port"),
        payload=bytes.fromhex(example.get("bytes_hex", "")),
        decoded_payload=example.get("decoded_payload"),
        expected=data,
    )


def load_cases(path: Path) -> list[Case]:
    """Every example and error case in one vector file."""
    document = json.loads(path.read_text(encoding="utf-8"))
    cases: list[Case] = []
    if "devices" in document:
        for device in document["devices"]:
            decoder_id = _decoder_for_codec(device["codec_id"])
            for number, example in enumerate(device["examples"], start=1):
                name = f"{device['vendor']}/{device['model']}#{number}"
                cases.append(_case(name, decoder_id, path.name, example))
        return cases
    decoder_id = path.stem
    for number, example in enumerate(document.get("examples", []), start=1):
        cases.append(_case(f"{decoder_id}#{number}", decoder_id, path.name, example))
    for number, example in enumerate(document.get("errors", []), start=1):
        error_case = {**example, "expected": {"errors": [example.get("description", "")]}}
        cases.append(_case(f"{decoder_id}!{number}", decoder_id, path.name, error_case))
    return cases


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The vendor's output as vendor fields: nested objects joined with '.', and a
    Decentlab `{"displayName", "unit", "value"}` object read as its value."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if "value" in value and set(value) <= {"value", "unit", "displayName"}:
                out[name] = value["value"]
            else:
                out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            out.update(flatten({str(i): item for i, item in enumerate(value)}, name + "."))
        else:
            out[name] = value
    return out


def same_value(expected: Any, actual: Any) -> bool:
    """Equal, with numbers within 1e-6 relative (JavaScript and Python round alike, mostly)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-12)
    return type(expected) is type(actual) and bool(expected == actual)


def differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """What differs between two sets of vendor fields, in words; empty when they match."""
    problems = [f"missing field {key!r}" for key in expected if key not in actual]
    problems += [
        f"unexpected field {key!r}={actual[key]!r}" for key in actual if key not in expected
    ]
    problems += [
        f"{key!r}: expected {expected[key]!r}, got {actual[key]!r}"
        for key in expected
        if key in actual and not same_value(expected[key], actual[key])
    ]
    return problems

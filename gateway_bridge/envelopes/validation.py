"""Bytes to validated envelope models, every failure turned into an `EnvelopeError`.

Both network servers speak protobuf's JSON mapping, so the same rules apply to
both: bodies are UTF-8 JSON objects, bytes fields are base64 (standard or
URL-safe, padded or not), timestamps are RFC 3339 with up to 9 fraction digits.
"""

import binascii
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from gateway_bridge.envelopes.errors import EnvelopeError
from gateway_bridge.envelopes.timestamps import parse_rfc3339_ns

DEFAULT_MAX_BYTES = 256 * 1024
"""Largest body parsed by default. A LoRaWAN uplink envelope is 1–3 KiB; a body
a hundred times that is a misrouted topic or an attack, not an uplink."""

Model = TypeVar("Model", bound=BaseModel)

_URL_SAFE = str.maketrans("-_", "+/")


def check_size(body: bytes, max_bytes: int) -> None:
    """Refuse a body larger than `max_bytes` before spending any time parsing it."""
    if len(body) > max_bytes:
        raise EnvelopeError(
            "oversize", f"body is {len(body)} bytes, more than the limit of {max_bytes} bytes"
        )


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, for deciding its format by shape."""
    try:
        document = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise EnvelopeError("malformed_json", f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise EnvelopeError(
            "invalid_envelope", f"expected a JSON object, got a JSON {_json_type(document)}"
        )
    return document


def validate_bytes(model: type[Model], body: bytes, what: str, hint: str = "") -> Model:
    """Validate `body` straight from JSON bytes: the fast path, one pass in Rust."""
    if b"NaN" in body or b"Infinity" in body:
        # The fast parser accepts these non-standard literals; they may also just be
        # text inside a string, so only a strict re-parse can tell.
        try:
            pydantic_core.from_json(body, allow_inf_nan=False)
        except ValueError as exc:
            raise EnvelopeError("malformed_json", f"not valid JSON: {exc}") from None
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise _envelope_error(exc, what, hint) from None


def validate_object(
    model: type[Model], document: dict[str, Any], what: str, hint: str = ""
) -> Model:
    """Validate an already-parsed JSON object (the shape-detection path)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise _envelope_error(exc, what, hint) from None


def decode_base64(text: str, field: str) -> bytes:
    """Bytes of a protobuf-JSON bytes field: standard or URL-safe alphabet, padding optional."""
    if not text:
        return b""
    try:
        return binascii.a2b_base64(text, strict_mode=True)  # the usual case: standard, padded
    except (binascii.Error, ValueError):
        pass
    normalised = text.translate(_URL_SAFE) + "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(normalised, strict_mode=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("invalid_base64", f"{field} is not base64: {_excerpt(text)}") from None


def timestamp_ns(text: str, field: str) -> int:
    """Nanoseconds since the epoch for a timestamp field, or an envelope error naming it."""
    try:
        return parse_rfc3339_ns(text)
    except ValueError as exc:
        raise EnvelopeError("invalid_envelope", f"{field}: {exc}") from None


def _envelope_error(exc: ValidationError, what: str, hint: str) -> EnvelopeError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return EnvelopeError("malformed_json", f"not valid JSON: {first['ctx']['error']}")
    if first["type"] == "model_type" and not first["loc"]:
        return EnvelopeError(
            "invalid_envelope",
            f"{what}: expected a JSON object, got a JSON {_json_type(first['input'])}",
        )
    path = _path(first["loc"])
    message = f"{what}: {path}: {first['msg']}"
    if first["type"] != "missing":
        message += f" (got {_excerpt(first['input'])})"
    if len(errors) > 1:
        message += f"; and {len(errors) - 1} more problem(s)"
    if hint and first["type"] == "missing" and len(first["loc"]) == 1:
        message += f" ({hint})"  # a top-level field missing suggests another format
    return EnvelopeError("invalid_envelope", message)


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(top level)"


def _excerpt(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"

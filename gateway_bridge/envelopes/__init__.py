"""Network-server envelopes (The Things Stack v3, ChirpStack v4) to the one internal `Uplink`.

Parsing only: vendor payload bytes are left to `decoders`. Every source (MQTT,
webhook, backfill, file) calls `parse_message`, which picks the format from the
topic when it says, and from the body's shape when it does not.

Normalised across both servers: `dev_eui` is lowercase hex (The Things Stack
writes it in capitals, ChirpStack in lowercase), `received_at_ns` is the
network server's time in exact nanoseconds, and zero values the servers omit
(`f_port`, `f_cnt`, an empty payload) come back as 0 and b"".
"""

from gateway_bridge.envelopes.chirpstack import (
    chirpstack_event,
    chirpstack_from_object,
    parse_chirpstack,
)
from gateway_bridge.envelopes.errors import ENVELOPE_REASONS, EnvelopeError, EnvelopeReason
from gateway_bridge.envelopes.ttn import parse_ttn, ttn_event, ttn_from_object
from gateway_bridge.envelopes.validation import DEFAULT_MAX_BYTES, check_size, load_object
from gateway_bridge.uplink import Uplink

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ENVELOPE_REASONS",
    "EnvelopeError",
    "EnvelopeReason",
    "parse_chirpstack",
    "parse_message",
    "parse_ttn",
]


def parse_message(topic: str, body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Uplink | None:
    """The uplink in one message, None for an event that is not an uplink.

    - `v3/{app}[@{tenant}]/devices/{id}/{event}`: The Things Stack; only `up` is parsed.
    - `application/{app}/device/{devEui}/event/{event}`: ChirpStack v4; only `up` is parsed.
    - any other topic, or "" (webhook, file replay): by shape. An object with
      `end_device_ids` (bare or wrapped in `{"result": …}`) is The Things Stack's,
      one with `deviceInfo` is ChirpStack's.

    Raises `EnvelopeError` (`reason` in `ENVELOPE_REASONS`) for a body larger than
    `max_bytes`, malformed JSON, an envelope of the wrong shape or invalid base64.
    """
    if ttn_event(topic) is not None:
        return parse_ttn(body, topic, max_bytes=max_bytes)
    if chirpstack_event(topic) is not None:
        return parse_chirpstack(body, topic, max_bytes=max_bytes)
    check_size(body, max_bytes)
    document = load_object(body)
    if "end_device_ids" in document or isinstance(document.get("result"), dict):
        return ttn_from_object(document)
    if "deviceInfo" in document:
        return chirpstack_from_object(document)
    raise EnvelopeError(
        "invalid_envelope",
        "neither a The Things Stack message (no end_device_ids) nor a ChirpStack v4 event "
        "(no deviceInfo)",
    )

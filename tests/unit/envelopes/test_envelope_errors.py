"""Every way a message can fail to be an envelope ends in an `EnvelopeError` with a known reason."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway_bridge.envelopes import (
    DEFAULT_MAX_BYTES,
    ENVELOPE_REASONS,
    EnvelopeError,
    parse_chirpstack,
    parse_message,
    parse_ttn,
)
from gateway_bridge.uplink import Uplink

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TTN_UP = "v3/wherry-roads@ttn/devices/rst-high-street-01/up"
CS_UP = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/a84041000181c3d9/event/up"
TOPICS = ["", TTN_UP, CS_UP, "file:uplinks.jsonl:7", "wherry/anything"]
TTN_BODY = (FIXTURES / "ttn" / "uplink-decoded-two-gateways.json").read_bytes()
CS_BODY = (FIXTURES / "chirpstack" / "up-decoded.json").read_bytes()


def reason_of(topic: str, body: bytes, **kw: Any) -> str:
    with pytest.raises(EnvelopeError) as caught:
        parse_message(topic, body, **kw)
    assert caught.value.message, "an error must say what was wrong"
    assert str(caught.value) == caught.value.message
    return caught.value.reason


def test_the_reasons_are_a_small_fixed_set() -> None:
    assert set(ENVELOPE_REASONS) == {
        "malformed_json",
        "invalid_envelope",
        "invalid_base64",
        "oversize",
    }


@pytest.mark.parametrize("topic", TOPICS)
def test_oversize_is_refused_before_parsing(topic: str) -> None:
    huge = b"{" + b" " * DEFAULT_MAX_BYTES + b"}"
    assert reason_of(topic, huge) == "oversize"
    assert reason_of(topic, TTN_BODY, max_bytes=len(TTN_BODY) - 1) == "oversize"


def test_a_body_exactly_at_the_limit_is_parsed() -> None:
    assert parse_message(TTN_UP, TTN_BODY, max_bytes=len(TTN_BODY)) is not None


def test_parse_functions_enforce_the_limit_too() -> None:
    with pytest.raises(EnvelopeError, match="limit"):
        parse_ttn(TTN_BODY, TTN_UP, max_bytes=100)
    with pytest.raises(EnvelopeError, match="limit"):
        parse_chirpstack(CS_BODY, CS_UP, max_bytes=100)


def test_a_one_megabyte_payload_is_oversize() -> None:
    message = json.loads(TTN_BODY)
    message["uplink_message"]["frm_payload"] = "A" * 1_000_000
    assert reason_of(TTN_UP, json.dumps(message).encode()) == "oversize"


MALFORMED = {
    "empty": b"",
    "whitespace": b"  \n",
    "truncated": TTN_BODY[: len(TTN_BODY) // 2],
    "garbage": b"\x00\x01\x02garbage",
    "invalid utf-8 in a string": TTN_BODY.replace(b"rst-high-street-01", b"rst-\xff\xfe-01"),
    "lone surrogate escape": TTN_BODY.replace(b"rst-high-street-01", b"rst-\\ud800-01"),
    "NaN": TTN_BODY.replace(b'"snr": 7.25', b'"snr": NaN'),
    "Infinity": TTN_BODY.replace(b'"snr": 7.25', b'"snr": Infinity'),
    "-Infinity": TTN_BODY.replace(b'"temperature_1": -1.3', b'"temperature_1": -Infinity'),
    "nested too deep": TTN_BODY.replace(
        b'"temperature_1": -1.3', b'"x": ' + b"[" * 5000 + b"]" * 5000
    ),
    "byte order mark": b"\xef\xbb\xbf" + TTN_BODY,
    "trailing garbage": TTN_BODY + b"}",
    "single quotes": b"{'end_device_ids': {}}",
}


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_json(name: str, topic: str) -> None:
    assert reason_of(topic, MALFORMED[name]) == "malformed_json"


def test_nan_as_text_inside_a_string_is_fine() -> None:
    body = TTN_BODY.replace(b"rst-high-street-01", b"NaN-Infinity-sensor")
    uplink = parse_message(TTN_UP, body)
    assert uplink is not None
    assert uplink.device_id == "NaN-Infinity-sensor"


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("body", [b"[]", b"42", b'"up"', b"null", b"true"])
def test_json_that_is_not_an_object_is_an_invalid_envelope(topic: str, body: bytes) -> None:
    assert reason_of(topic, body) == "invalid_envelope"


def test_an_object_of_neither_format_is_an_invalid_envelope() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_message("", b'{"temperature": 4.5}')
    assert caught.value.reason == "invalid_envelope"
    assert "end_device_ids" in caught.value.message and "deviceInfo" in caught.value.message


def test_envelope_errors_survive_pickling() -> None:
    error = EnvelopeError("invalid_base64", "uplink_message.frm_payload is not base64")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.message) == (error.reason, error.message)


def check(topic: str, body: bytes) -> None:
    try:
        result = parse_message(topic, body)
    except EnvelopeError as exc:
        assert exc.reason in ENVELOPE_REASONS
    else:
        assert result is None or isinstance(result, Uplink)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from(TOPICS), body=st.binary(max_size=512))
def test_random_bytes_never_escape_as_anything_else(topic: str, body: bytes) -> None:
    check(topic, body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        paths = [(*prefix, key) for key in value]
        return paths + [
            p for key, child in value.items() for p in leaf_paths(child, (*prefix, key))
        ]
    if isinstance(value, list):
        paths = [(*prefix, index) for index in range(len(value))]
        return paths + [
            p for index, child in enumerate(value) for p in leaf_paths(child, (*prefix, index))
        ]
    return []


TTN_PATHS = leaf_paths(json.loads(TTN_BODY))
CS_PATHS = leaf_paths(json.loads(CS_BODY))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    which=st.sampled_from(["ttn", "chirpstack"]),
    topic=st.sampled_from(TOPICS),
    value=JSON_VALUES,
)
def test_any_field_replaced_by_any_json_never_escapes(
    data: st.DataObject, which: str, topic: str, value: object
) -> None:
    message = json.loads(TTN_BODY if which == "ttn" else CS_BODY)
    path = data.draw(st.sampled_from(TTN_PATHS if which == "ttn" else CS_PATHS))
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    check(topic, json.dumps(message).encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(TOPICS),
    cut=st.integers(min_value=0, max_value=len(TTN_BODY)),
    byte=st.integers(0, 255),
)
def test_corrupted_uplinks_never_escape(topic: str, cut: int, byte: int) -> None:
    check(topic, TTN_BODY[:cut] + bytes([byte]) + TTN_BODY[cut + 1 :])
    check(topic, TTN_BODY[:cut])

"""ChirpStack v4 integration events (JSON marshaler), from fixtures written after its docs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway_bridge.envelopes import EnvelopeError, parse_chirpstack, parse_message
from gateway_bridge.uplink import GatewayReception, Uplink

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chirpstack"
APP = "17c82e96-be03-4f38-aef3-f83d48582d97"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def topic(event: str = "up", dev_eui: str = "a84041000181c3d9") -> str:
    return f"application/{APP}/device/{dev_eui}/event/{event}"


def mutated(key: str, value: object, name: str = "up-decoded.json") -> bytes:
    message: dict[str, Any] = json.loads(body(name))
    if value is ...:
        del message[key]
    else:
        message[key] = value
    return json.dumps(message).encode()


def test_up_event_with_codec_object() -> None:
    uplink = parse_message(topic(), body("up-decoded.json"))

    assert uplink == Uplink(
        network="chirpstack",
        device_id="rst-london-road-07",
        application_id=APP,
        received_at_ns=1_768_446_765_123_456_789,  # 2026-01-15T03:12:45.123456789+00:00
        payload=bytes.fromhex("0167fff302688c"),
        dev_eui="a84041000181c3d9",
        f_cnt=2231,
        f_port=1,
        decoded_payload={"temperature_1": -1.3, "relative_humidity_2": 70},
        receptions=(GatewayReception("0016c001f153a14c", rssi=-101.0, snr=4.5),),
        spreading_factor=9,
        bandwidth_hz=125_000,
        frequency_hz=868_500_000,
        airtime_ms=None,
        simulated=False,
    )


def test_up_without_device_name_is_known_by_lowercase_dev_eui() -> None:
    uplink = parse_chirpstack(body("up-raw-two-gateways.json"), topic(dev_eui="70b3d57ba0000a1c"))
    assert uplink is not None
    assert uplink.device_id == uplink.dev_eui == "70b3d57ba0000a1c"
    assert uplink.decoded_payload is None
    assert uplink.received_at_ns == 1_768_452_300_500_000_000  # 2026-01-15T04:45:00.5Z
    assert [(r.gateway_id, r.rssi, r.snr) for r in uplink.receptions] == [
        ("0016c001f153a14c", -88.0, 9.25),
        ("0016c001f1500d12", -117.0, -8.0),
    ]
    assert uplink.best_reception is not None
    assert uplink.best_reception.gateway_id == "0016c001f153a14c"


@pytest.mark.parametrize("name", ["up-decoded.json", "up-raw-two-gateways.json"])
def test_topic_and_shape_give_the_same_uplink(name: str) -> None:
    by_topic = parse_message(topic(), body(name))
    assert isinstance(by_topic, Uplink)
    assert parse_message("", body(name)) == by_topic
    assert parse_chirpstack(body(name)) == by_topic
    # a ChirpStack installation with a custom topic template falls back to the shape
    assert parse_message(f"chirpstack/{APP}/up", body(name)) == by_topic


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("join.json", "join"),
        ("status.json", "status"),
        ("log.json", "log"),
        ("txack.json", "txack"),
    ],
)
def test_other_events_are_ignored(name: str, event: str) -> None:
    assert parse_message(topic(event), body(name)) is None
    assert parse_message("", body(name)) is None


@pytest.mark.parametrize("event", ["ack", "location", "integration"])
def test_other_event_topics_are_ignored_unread(event: str) -> None:
    assert parse_message(topic(event), b"{}") is None


def test_zero_fields_omitted_by_protobuf_json_default_to_zero() -> None:
    message: dict[str, Any] = json.loads(body("up-decoded.json"))
    for key in ("fCnt", "fPort", "data", "object", "adr", "confirmed", "dr"):
        del message[key]
    uplink = parse_message(topic(), json.dumps(message).encode())
    assert uplink is not None
    assert (uplink.f_cnt, uplink.f_port, uplink.payload, uplink.decoded_payload) == (
        0,
        0,
        b"",
        None,
    )


def test_time_falls_back_to_network_server_receive_time() -> None:
    uplink = parse_message(topic(), mutated("time", ...))
    assert uplink is not None
    assert uplink.received_at_ns == 1_768_446_765_117_000_123


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("deviceInfo", ..., "deviceInfo"),
        ("deviceInfo", "rst", "deviceInfo"),
        ("fCnt", "12", "fCnt"),
        ("fPort", 300, "fPort"),
        ("rxInfo", {"gatewayId": "x"}, "rxInfo"),
        ("time", "15/01/2026 03:12", "time"),
        ("object", "22.5", "object"),
    ],
)
def test_wrong_fields_are_invalid_envelopes_that_name_the_field(
    key: str, value: object, field: str
) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_message(topic(), mutated(key, value))
    assert caught.value.reason == "invalid_envelope"
    assert field in caught.value.message


def test_v3_json_is_refused_with_a_hint() -> None:
    legacy = {
        "applicationID": "123",
        "applicationName": "road-surface",
        "deviceName": "rst-london-road-07",
        "devEUI": "AgICAgICAgI=",
        "fCnt": 10,
        "fPort": 5,
        "data": "AQ==",
    }
    with pytest.raises(EnvelopeError) as caught:
        parse_message(topic(), json.dumps(legacy).encode())
    assert caught.value.reason == "invalid_envelope"
    assert "v3" in caught.value.message


def test_bad_base64_data() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_message(topic(), mutated("data", "not base64!"))
    assert caught.value.reason == "invalid_base64"
    assert "data" in caught.value.message

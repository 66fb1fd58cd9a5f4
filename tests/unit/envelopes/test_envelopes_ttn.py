"""The Things Stack v3 messages, from the fixtures written after its documented data formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway_bridge.envelopes import EnvelopeError, parse_message, parse_ttn
from gateway_bridge.uplink import GatewayReception, Uplink

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ttn"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body(name))
    return loaded


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def topic(device_id: str, event: str = "up", app: str = "wherry-roads") -> str:
    return f"v3/{app}@ttn/devices/{device_id}/{event}"


def epoch_ns(*fields: int, nanos: int = 0) -> int:
    year, month, day, hour, minute, second = fields
    seconds = int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())
    return seconds * 1_000_000_000 + nanos


UPLINK_FIXTURES = [
    "uplink-decoded-two-gateways.json",
    "uplink-raw-channel-rssi-only.json",
    "uplink-three-gateways.json",
    "uplink-simulated.json",
    "uplink-fport0-mac-only.json",
]
EVENT_FIXTURES = {
    "join.json": "join",
    "down-queued.json": "down/queued",
    "down-sent.json": "down/sent",
    "down-ack.json": "down/ack",
    "down-nack.json": "down/nack",
    "down-failed.json": "down/failed",
    "service-data.json": "service/data",
    "location-solved.json": "location/solved",
}


def test_uplink_with_decoded_payload_and_two_gateways() -> None:
    uplink = parse_message(topic("rst-high-street-01"), body("uplink-decoded-two-gateways.json"))

    assert uplink == Uplink(
        network="ttn",
        device_id="rst-high-street-01",
        application_id="wherry-roads",
        received_at_ns=epoch_ns(2026, 1, 15, 3, 12, 45, nanos=123_456_789),
        payload=bytes.fromhex("0167fff302688c"),
        dev_eui="70b3d57ed005e3a1",
        f_cnt=1482,
        f_port=1,
        decoded_payload={"temperature_1": -1.3, "relative_humidity_2": 70},
        receptions=(
            GatewayReception("town-hall-roof", rssi=-97.0, snr=7.25),
            GatewayReception("depot-mast", rssi=-114.0, snr=-6.5),
        ),
        spreading_factor=9,
        bandwidth_hz=125_000,
        frequency_hz=868_500_000,
        airtime_ms=pytest.approx(205.824),  # type: ignore[arg-type]
        simulated=False,
    )
    assert uplink.best_reception == GatewayReception("town-hall-roof", rssi=-97.0, snr=7.25)


def test_time_is_the_uplink_received_at_not_the_message_received_at() -> None:
    uplink = parse_ttn(body("uplink-decoded-two-gateways.json"))
    assert uplink is not None
    # uplink_message.received_at, to the nanosecond; the top-level one is .187654321
    assert uplink.received_at_ns % 1_000_000_000 == 123_456_789


def test_rssi_falls_back_to_channel_rssi() -> None:
    uplink = parse_ttn(body("uplink-raw-channel-rssi-only.json"), topic("rst-ring-road-04"))
    assert uplink is not None
    assert uplink.receptions == (GatewayReception("library-attic", rssi=-109.0, snr=2.5),)
    assert uplink.decoded_payload is None
    assert uplink.payload == bytes.fromhex("021a2b0003fff20c60")
    assert uplink.received_at_ns == epoch_ns(2026, 1, 15, 4, 2, 10, nanos=750_000_001)
    assert uplink.airtime_ms == pytest.approx(61.696)
    assert (uplink.f_port, uplink.f_cnt) == (10, 77)


def test_three_gateways_best_is_loudest() -> None:
    uplink = parse_ttn(body("uplink-three-gateways.json"), topic("aq-st-marys-primary"))
    assert uplink is not None
    assert [r.gateway_id for r in uplink.receptions] == [
        "town-hall-roof",
        "library-attic",
        "packetbroker",
    ]
    assert uplink.best_reception is not None
    assert uplink.best_reception.gateway_id == "library-attic"
    assert uplink.f_cnt == 65536
    assert uplink.application_id == "wherry-schools"


def test_simulated_uplink_without_uplink_time_uses_message_time() -> None:
    uplink = parse_ttn(body("uplink-simulated.json"), topic("wq-river-soar-02"))
    assert uplink is not None
    assert uplink.simulated is True
    assert uplink.received_at_ns == epoch_ns(2026, 1, 15, 11, 0, 0, nanos=1)
    assert uplink.f_cnt == 0  # omitted by The Things Stack because it is zero


def test_mac_only_uplink_on_port_0_has_no_payload() -> None:
    uplink = parse_ttn(body("uplink-fport0-mac-only.json"), topic("rst-high-street-01"))
    assert uplink is not None
    assert (uplink.f_port, uplink.f_cnt, uplink.payload) == (0, 0, b"")
    assert uplink.decoded_payload is None


def test_storage_integration_result_is_unwrapped() -> None:
    uplink = parse_message("", body("storage-integration-result.json"))
    assert uplink is not None
    assert uplink.device_id == "rst-high-street-01"
    assert uplink.f_cnt == 1481
    assert uplink.received_at_ns == epoch_ns(2026, 1, 15, 3, 2, 44, nanos=900_000_000)
    assert parse_ttn(body("storage-integration-result.json")) == uplink


@pytest.mark.parametrize("name", UPLINK_FIXTURES)
def test_topic_and_shape_give_the_same_uplink(name: str) -> None:
    by_topic = parse_message(topic("any-device"), body(name))
    by_shape = parse_message("", body(name))
    wrapped = parse_message("", encode({"result": document(name)}))
    assert isinstance(by_topic, Uplink)
    assert by_topic == by_shape == wrapped


def test_topic_without_tenant_is_recognised() -> None:
    uplink = parse_message(
        "v3/wherry-roads/devices/rst-high-street-01/up", body("uplink-fport0-mac-only.json")
    )
    assert uplink is not None
    assert uplink.network == "ttn"


@pytest.mark.parametrize(("name", "event"), EVENT_FIXTURES.items())
def test_other_events_are_ignored_by_topic(name: str, event: str) -> None:
    assert parse_message(topic("rst-high-street-01", event), body(name)) is None


@pytest.mark.parametrize("name", EVENT_FIXTURES)
def test_other_events_are_ignored_by_shape(name: str) -> None:
    assert parse_message("", body(name)) is None
    assert parse_ttn(body(name)) is None


def test_ignored_topics_are_not_read() -> None:
    assert parse_message(topic("d", "down/queued"), b"\x00 not even json") is None


def test_up_topic_with_a_join_body_names_the_missing_field() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_message(topic("rst-high-street-01"), body("join.json"))
    assert caught.value.reason == "invalid_envelope"
    assert "uplink_message" in caught.value.message


def mutated(
    path: list[str | int], value: object, name: str = "uplink-decoded-two-gateways.json"
) -> bytes:
    message = document(name)
    target: Any = message
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return encode(message)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["uplink_message", "f_port"], "1", "uplink_message.f_port"),
        (["uplink_message", "f_port"], 256, "uplink_message.f_port"),
        (["uplink_message", "f_port"], True, "uplink_message.f_port"),
        (["uplink_message", "f_cnt"], -1, "uplink_message.f_cnt"),
        (["uplink_message", "f_cnt"], 1.5, "uplink_message.f_cnt"),
        (["uplink_message", "frm_payload"], 12, "uplink_message.frm_payload"),
        (["uplink_message", "decoded_payload"], [1, 2], "uplink_message.decoded_payload"),
        (
            ["uplink_message", "rx_metadata", 1, "rssi"],
            "loud",
            "uplink_message.rx_metadata[1].rssi",
        ),
        (["uplink_message", "rx_metadata", 0, "gateway_ids"], ..., "rx_metadata[0].gateway_ids"),
        (
            ["uplink_message", "settings", "frequency"],
            "868.1MHz",
            "uplink_message.settings.frequency",
        ),
        (["uplink_message", "consumed_airtime"], "61ms", "uplink_message.consumed_airtime"),
        (["uplink_message", "received_at"], "yesterday", "uplink_message.received_at"),
        (["uplink_message", "received_at"], "2026-02-30T00:00:00Z", "uplink_message.received_at"),
        (["end_device_ids", "device_id"], ..., "end_device_ids.device_id"),
        (["end_device_ids", "device_id"], "", "end_device_ids.device_id"),
        (["end_device_ids", "application_ids"], ..., "end_device_ids.application_ids"),
        (["simulated"], "yes", "simulated"),
    ],
)
def test_wrong_fields_are_invalid_envelopes_that_name_the_field(
    path: list[str | int], value: object, field: str
) -> None:
    bad = mutated(path, value)
    for via in (topic("rst-high-street-01"), ""):
        with pytest.raises(EnvelopeError) as caught:
            parse_message(via, bad)
        assert caught.value.reason == "invalid_envelope"
        assert field in caught.value.message


def test_missing_received_at_everywhere_is_invalid() -> None:
    message = document("uplink-decoded-two-gateways.json")
    del message["received_at"], message["uplink_message"]["received_at"]
    with pytest.raises(EnvelopeError, match="received_at") as caught:
        parse_ttn(encode(message))
    assert caught.value.reason == "invalid_envelope"


def test_frequency_as_a_number_is_accepted() -> None:
    uplink = parse_ttn(mutated(["uplink_message", "settings", "frequency"], 868_500_000))
    assert uplink is not None
    assert uplink.frequency_hz == 868_500_000


def test_unknown_fields_are_ignored() -> None:
    uplink = parse_ttn(mutated(["uplink_message", "some_future_field"], {"x": [1, 2, 3]}))
    assert uplink is not None


def test_dev_eui_is_optional() -> None:
    uplink = parse_ttn(mutated(["end_device_ids", "dev_eui"], ...))
    assert uplink is not None
    assert uplink.dev_eui is None


@pytest.mark.parametrize("payload", ["AWf/8wJojA", "AWf_8wJojA==", "AWf_8wJojA"])
def test_payload_base64_variants_of_protobuf_json(payload: str) -> None:
    uplink = parse_ttn(mutated(["uplink_message", "frm_payload"], payload))
    assert uplink is not None
    assert uplink.payload == bytes.fromhex("0167fff302688c")


@pytest.mark.parametrize("payload", ["AWf/8wJojA=!", "A", "AQ==AQ==", "ñññ=", "AWf 8wJojA=="])
def test_bad_base64_payload(payload: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_ttn(mutated(["uplink_message", "frm_payload"], payload))
    assert caught.value.reason == "invalid_base64"
    assert "uplink_message.frm_payload" in caught.value.message


def test_wrapper_that_is_not_an_uplink_result_is_invalid() -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_ttn(encode({"error": {"code": 14, "message": "unavailable"}}))
    assert caught.value.reason == "invalid_envelope"
    assert "end_device_ids" in caught.value.message

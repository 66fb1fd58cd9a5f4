"""The pure parts of bench/ingest.py: MQTT framing, the latency estimate, the uplinks it sends."""

from __future__ import annotations

import pytest

from bench.e2e.fleet import DEVICE_STEP_NS, ROUND_NS, Uplinks, kind_of, received_at_ns
from bench.e2e.latency import latencies, sustained_rate, time_reaching
from bench.e2e.mqtt_wire import connect_packet, publish_qos1, remaining_length
from bench.e2e.store_watch import blocks
from decoders import decode
from gateway_bridge.envelopes import parse_message


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8001"), (16_383, "ff7f"), (16_384, "808001")],
)
def test_remaining_length_is_mqtts_variable_length_integer(length: int, encoded: str) -> None:
    assert remaining_length(length).hex() == encoded  # MQTT 3.1.1 §2.2.3, table 2.4


def test_publish_and_connect_packets_are_framed_as_mqtt_3_1_1() -> None:
    packet = publish_qos1(b"a/b", 7, b"hi")
    assert packet == b"\x32\x09\x00\x03a/b\x00\x07hi"
    connect = connect_packet("c", clean_session=True)
    assert connect == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01c"


def test_latency_is_when_the_stored_count_caught_up_with_the_sent_count() -> None:
    sent = [(0.0, 0), (1.0, 1000), (2.0, 2000)]  # 1,000 a second
    stored = [(0.5, 0), (1.5, 1000), (2.5, 2000)]  # each count seen 0.5 s later
    values = latencies(sent, stored, 2000)
    assert len(values) == 1000
    assert min(values) == pytest.approx(0.5) and max(values) == pytest.approx(1.5, abs=0.01)
    assert time_reaching(sent, 500, interpolate=True) == pytest.approx(0.5)
    assert time_reaching(stored, 500, interpolate=False) == 1.5
    assert sustained_rate(0.0, stored, 2000) == (800.0, 2.5)
    assert sustained_rate(0.0, stored, 2001) == (None, None)


def test_every_uplink_is_a_distinct_valid_ttn_message_that_decodes() -> None:
    uplinks = Uplinks(20, "bench-test", base_ns=1_768_446_000_000_000_000, first_round=3)
    seen = set()
    for k in range(40):
        topic, body = uplinks.topics[uplinks.device(k)].decode(), uplinks.body(k)
        assert 1_100 < len(body) < 1_600
        uplink = parse_message(topic, body)
        assert uplink is not None and uplink.application_id == "bench-test"
        assert len(uplink.receptions) == 3
        device = uplinks.fleet[k % 20]
        assert uplink.device_id == device.device_id and uplink.f_cnt == 3 + k // 20
        assert uplink.received_at_ns == (
            uplinks.base_ns + uplink.f_cnt * ROUND_NS + device.index * DEVICE_STEP_NS + 123_457
        )
        field_map = {"concentration_4": "co2"} if device.kind == "air" else {}
        readings = decode(device.decoder, uplink.payload, uplink.f_port, field_map=field_map)
        assert readings.readings and all(r.valid for r in readings.readings)
        seen.add((uplink.device_id, uplink.f_cnt, uplink.received_at_ns))
    assert len(seen) == 40
    assert [kind_of(i) for i in range(10)].count("road") == 6


def test_uplinks_are_counted_in_blocks_that_cover_their_times_with_slack() -> None:
    def time_of(k: int) -> int:
        return received_at_ns(k, devices=7, base_ns=10**18)

    found = blocks(25, time_of, slack_ns=DEVICE_STEP_NS // 3, size=10)
    assert [b.expected for b in found] == [10, 10, 5]
    for k in range(25):
        inside = [b for b in found if b.start_ns <= time_of(k) < b.end_ns]
        assert inside == [found[k // 10]]
        rounded = time_of(k) // 1_000_000 * 1_000_000  # stored to the millisecond
        assert found[k // 10].start_ns <= rounded < found[k // 10].end_ns

"""The ingest foundation's acceptance: real Mosquitto, real `wherry run`, real InfluxDB or SQLite.

10,000 TTN uplinks from 100 registered devices arrive exactly once; publishing
them all again changes nothing; a corpus of bad messages interleaved with good
ones is counted by reason and kept, and the process carries on.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from storage import ReadingStore, open_store
from storage.registry import Registry
from tests import servers
from tests.uplinks import (
    cayenne_temperature_humidity,
    dl_ds18_payload,
    encode,
    iso_ns,
    ttn_topic,
    ttn_uplink,
)
from tests.wherry_process import WherryRun, wherry

pytestmark = pytest.mark.integration

APP = "wherry-test"
START_NS = 1_768_446_000_000_000_000  # 2026-01-15T03:00:00Z
TEN_MINUTES_NS = 600 * 1_000_000_000


@dataclass(frozen=True)
class Device:
    device_id: str
    dev_eui: str
    kind: str  # road | air | water


def fleet(count: int = 100) -> list[Device]:
    kinds = ["road"] * 50 + ["air"] * 30 + ["water"] * 20
    return [
        Device(f"sensor-{n:03d}", f"70b3d57ed005{n:04x}", kinds[n % len(kinds)])
        for n in range(count)
    ]


SENTINEL = Device("sentinel", "70b3d57ed00fffff", "road")


def write_registry_csvs(directory: Path, devices: list[Device]) -> tuple[Path, Path]:
    routes = directory / "routes.csv"
    routes.write_text(
        "route_id,name,length_km,priority,area\n"
        "hill,Castle Hill,4.2,1,north\n"
        "centre,Town centre loop,6.5,2,centre\n"
    )
    decoders = {
        "road": ("decentlab-dl-ds18", "road", ""),
        "air": ("cayenne-lpp", "air", ""),
        "water": ("ttn", "water", "temp=water_temperature;cond=conductivity"),
    }
    lines = [
        "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,field_map"
    ]
    for n, device in enumerate([*devices, SENTINEL]):
        decoder, domain, field_map = decoders[device.kind]
        route = ("hill" if n % 2 else "centre") if device.kind == "road" else ""
        lines.append(
            f"{device.device_id},{device.dev_eui},Sensor {n},{decoder},{domain},{route},"
            f"52.62,1.29,{'true' if device.kind == 'air' else 'false'},council,{field_map}"
        )
    devices_csv = directory / "devices.csv"
    devices_csv.write_text("\n".join(lines) + "\n")
    return devices_csv, routes


def road_temperature(device_index: int, f_cnt: int) -> float:
    return round(4.0 - f_cnt * 0.0625 + device_index * 0.0625, 4)


def uplink_for(device: Device, index: int, f_cnt: int) -> tuple[str, bytes, int]:
    """One uplink; its time has a full nanosecond fraction so precision loss would show."""
    received_at_ns = START_NS + f_cnt * TEN_MINUTES_NS + index * 1_000_003 + 123_456_789
    if device.kind == "road":
        payload = dl_ds18_payload(index, road_temperature(index, f_cnt), 3.0)
        message = ttn_uplink(
            device.device_id,
            received_at_ns=received_at_ns,
            f_cnt=f_cnt,
            payload=payload,
            dev_eui=device.dev_eui,
            application_id=APP,
        )
    elif device.kind == "air":
        payload = cayenne_temperature_humidity(5.0 + f_cnt * 0.1, 80.0)
        message = ttn_uplink(
            device.device_id,
            received_at_ns=received_at_ns,
            f_cnt=f_cnt,
            payload=payload,
            dev_eui=device.dev_eui,
            application_id=APP,
        )
    else:
        message = ttn_uplink(
            device.device_id,
            received_at_ns=received_at_ns,
            f_cnt=f_cnt,
            payload=b"\x01\x02",
            dev_eui=device.dev_eui,
            application_id=APP,
            decoded_payload={"temp": 7.5 + index * 0.01, "cond": 410.0 + f_cnt},
        )
    return ttn_topic(device.device_id, APP), encode(message), received_at_ns


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"publisher-{uuid.uuid4().hex[:8]}"
    )
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, body, qos=1) for topic, body in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
            assert info.is_published()
    finally:
        client.loop_stop()
        client.disconnect()


def wait_for_count(store: ReadingStore, expected: int, timeout: float = 180, **tags: str) -> int:
    import time

    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        seen = store.count("uplink", "f_cnt", tags=tags or None)
        if seen >= expected:
            return seen
        time.sleep(0.5)
    return seen


@pytest.fixture(params=["influxdb", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "influxdb":
        influxd: servers.ServerProcess = request.getfixturevalue("influxd_server")
        return f"influxdb://127.0.0.1:{influxd.port}/wherry_{uuid.uuid4().hex[:10]}"
    return f"sqlite:///{tmp_path / 'readings.db'}"


@pytest.fixture
def wherry_env(
    tmp_path: Path, store_url: str, mosquitto_server: servers.ServerProcess
) -> dict[str, str]:
    return {
        "WHERRY_DATA_DIR": str(tmp_path / "data"),
        "WHERRY_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "WHERRY_STORE_URL": store_url,
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-test-{uuid.uuid4().hex[:8]}",
        "WHERRY_FLUSH_INTERVAL": "0.2",
        "WHERRY_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def running_wherry(tmp_path: Path, wherry_env: dict[str, str]) -> Iterator[WherryRun]:
    devices_csv, routes_csv = write_registry_csvs(tmp_path, fleet())
    for args in (("routes", "import", str(routes_csv)), ("devices", "import", str(devices_csv))):
        result = wherry(*args, env=wherry_env)
        assert result.returncode == 0, result.stdout + result.stderr
    run = WherryRun(wherry_env, tmp_path / "wherry.log")
    try:
        run.wait_for_log("subscribed")
        yield run
    finally:
        run.kill()


def sentinel_message(f_cnt: int) -> tuple[str, bytes]:
    """A last uplink: once it is stored, everything published before it has been handled."""
    topic, body, _ = uplink_for(SENTINEL, 999, f_cnt)
    return topic, body


def test_10000_uplinks_stored_exactly_once(
    running_wherry: WherryRun, store_url: str, mosquitto_server: servers.ServerProcess
) -> None:
    devices = fleet()
    messages, times = [], {}
    for f_cnt in range(100):
        for index, device in enumerate(devices):
            topic, body, received_at_ns = uplink_for(device, index, f_cnt)
            messages.append((topic, body))
            times[(device.device_id, f_cnt)] = received_at_ns
    assert len(messages) == 10_000

    store = open_store(store_url)
    try:
        publish_all(mosquitto_server.port, messages)
        assert wait_for_count(store, 10_000) == 10_000

        # Values, tags and nanosecond timestamps of one road sensor.
        road_index = next(i for i, d in enumerate(devices) if d.kind == "road" and i % 2)
        road = devices[road_index]
        readings = store.query("reading", tags={"device_id": road.device_id})
        assert len(readings) == 100
        for f_cnt, point in enumerate(readings):
            assert point.time_ns == times[(road.device_id, f_cnt)]
            assert iso_ns(point.time_ns).endswith(f"{(point.time_ns % 10**9):09d}Z")
            assert point.tags["route"] == "hill"
            assert point.tags["domain"] == "road"
            assert point.tags["application_id"] == APP
            assert point.fields["road_surface_temperature"] == pytest.approx(
                road_temperature(road_index, f_cnt), abs=1e-9
            )
            assert point.fields["battery_voltage"] == pytest.approx(3.0)
        link = store.query("uplink", tags={"device_id": road.device_id})
        assert [p.fields["f_cnt"] for p in link] == list(range(100))
        assert {p.tags["gateway"] for p in link} == {"council-gw-017"}
        assert link[0].fields["rssi"] == pytest.approx(-97.0)
        assert link[0].fields["spreading_factor"] == 9

        air = next(d for d in devices if d.kind == "air")
        air_points = store.query("reading", tags={"device_id": air.device_id})
        assert air_points[3].fields["air_temperature"] == pytest.approx(5.3)
        assert air_points[3].fields["relative_humidity"] == pytest.approx(80.0)
        assert "dew_point" in air_points[3].fields
        water = next(d for d in devices if d.kind == "water")
        water_points = store.query("reading", tags={"device_id": water.device_id})
        assert water_points[5].fields["conductivity"] == pytest.approx(415.0)
        assert store.count("reading", "road_surface_temperature") == 5_000

        # The same 10,000 again, shuffled, then a sentinel: still exactly 10,000 (+ the sentinel).
        random.Random(7).shuffle(messages)
        publish_all(mosquitto_server.port, [*messages, sentinel_message(1)])
        assert wait_for_count(store, 1, device_id=SENTINEL.device_id) == 1
        assert store.count("uplink", "f_cnt") == 10_001
        assert store.count("reading", "road_surface_temperature") == 5_001
    finally:
        store.close()

    assert running_wherry.terminate() == 0
    stopped = running_wherry.log.rsplit("stopped: ", 1)[1].splitlines()[0]
    counters = json.loads(stopped.replace("'", '"'))
    assert counters["uplinks_accepted"] == 20_001


def bad_corpus(good: tuple[str, bytes], received_at_ns: int) -> list[tuple[str, bytes, str | None]]:
    """(topic, body, expected dead-letter reason or None for an unregistered sighting)."""
    topic, body = good
    message = json.loads(body)
    wrong_types = json.loads(body)
    wrong_types["uplink_message"]["f_cnt"] = "many"
    bad_base64 = json.loads(body)
    bad_base64["uplink_message"]["frm_payload"] = "@@not*base64@@"
    huge = json.loads(body)
    huge["uplink_message"]["decoded_payload"] = {"padding": "x" * 1_000_000}
    truncated_bytes = json.loads(body)
    truncated_bytes["uplink_message"]["frm_payload"] = "AgI9AAM="  # DL-DS18 header without the data
    truncated_bytes["uplink_message"]["received_at"] = iso_ns(received_at_ns + 1_000_000_000)
    stranger = json.loads(body)
    stranger["end_device_ids"]["device_id"] = "not-registered-42"
    stranger["end_device_ids"]["dev_eui"] = "0004A30B001C0530"
    return [
        (topic, bytes(random.Random(1).randbytes(300)), "malformed_json"),
        (topic, body[: len(body) // 2], "malformed_json"),
        (topic, b"\xff\xfe" + body, "malformed_json"),
        (topic, body.replace(b'"f_cnt":', b'"rssi_bad":NaN,"f_cnt":'), "malformed_json"),
        (topic, encode(wrong_types), "invalid_envelope"),
        (topic, encode(bad_base64), "invalid_base64"),
        (topic, encode(huge), "oversize"),
        (topic, encode(truncated_bytes), "decode_error"),
        (ttn_topic("not-registered-42", APP), encode(stranger), None),
        (topic, json.dumps(message["end_device_ids"]).encode(), "invalid_envelope"),
    ]


def test_bad_messages_are_counted_kept_and_survived(
    running_wherry: WherryRun,
    store_url: str,
    wherry_env: dict[str, str],
    mosquitto_server: servers.ServerProcess,
) -> None:
    devices = fleet()
    road_index, road = next((i, d) for i, d in enumerate(devices) if d.kind == "road")
    stream: list[tuple[str, bytes]] = []
    expected: dict[str, int] = {}
    sightings = 0
    good = 0
    for f_cnt in range(30):
        topic, body, received_at_ns = uplink_for(road, road_index, f_cnt)
        stream.append((topic, body))
        good += 1
        for bad_topic, bad_body, reason in bad_corpus((topic, body), received_at_ns):
            stream.append((bad_topic, bad_body))
            if reason is None:
                sightings += 1
            else:
                expected[reason] = expected.get(reason, 0) + 1
    stream.append(sentinel_message(1))

    store = open_store(store_url)
    try:
        publish_all(mosquitto_server.port, stream)
        assert wait_for_count(store, 1, device_id=SENTINEL.device_id) == 1
        assert running_wherry.alive()
        # Every good uplink stored, plus one uplink record per decode failure (the link was fine).
        road_tags = {"device_id": road.device_id}
        assert store.count("reading", "road_surface_temperature", tags=road_tags) == good
        assert store.count("uplink", "f_cnt", tags=road_tags) == good + expected["decode_error"]
    finally:
        store.close()

    assert running_wherry.terminate() == 0
    registry = Registry(wherry_env["WHERRY_REGISTRY_URL"])
    try:
        assert registry.dead_letter_counts() == expected
        [stranger] = registry.sightings()
        assert (stranger.device_id, stranger.count) == ("not-registered-42", sightings)
        oversize = registry.dead_letters(reason="oversize", limit=1)[0]
        assert oversize.body_size > 1_000_000 and oversize.truncated
    finally:
        registry.close()

    listing = wherry("dead-letters", "--reason", "decode_error", "--limit", "1", env=wherry_env)
    assert listing.returncode == 0
    assert "decode_error" in listing.stdout and road.device_id in listing.stdout

"""The demo's parts together: its embedded MQTT broker with real paho-mqtt 2.x clients, the
simulator through it, and the simulator's uplinks through the real envelope parser and decoders.

No mocks: an in-process amqtt broker on a free loopback port, paho clients
subscribing with the wildcard the bridge uses for TTN, and bursts big enough for
a broker that drops under load to show it.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import decoders
from gateway_bridge.envelopes import parse_message
from storage.registry.validation import parse_field_map
from tests.wherry_process import wherry_env
from wherry.demo.broker import EmbeddedBroker, EmbeddedBrokerError
from wherry.demo.fleet import (
    ClassroomSensor,
    RiverProbe,
    RoadProbe,
    SiteBehaviour,
    WeatherStation,
    load_fleet,
)
from wherry.demo.simulator import POWER_ON_RESET_C, NightSimulator

pytestmark = pytest.mark.integration

TTN_UPLINKS = "v3/+/devices/+/up"
START = datetime(2026, 1, 14, 18, 0, tzinfo=UTC)
BURST = 5_000


class Collector:
    """A paho-mqtt 2.x client that subscribes and keeps every message it receives."""

    def __init__(
        self, port: int, topic: str, qos: int, *, client_id: str, clean: bool = True
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self.session_present = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self._topic, self._qos = topic, qos
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._connected.wait(10), "subscriber did not connect"
        if clean:
            self.client.subscribe(topic, qos)
            assert self._subscribed.wait(10), "subscription was not acknowledged"

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, *_: object
    ) -> None:
        self.session_present = flags.session_present
        self._connected.set()

    def subscribe(self) -> None:
        self.client.subscribe(self._topic, self._qos)
        assert self._subscribed.wait(10), "subscription was not acknowledged"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return len(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publisher(port: int, client_id: str = "demo-publisher") -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="module")
def uplinks() -> list[tuple[str, bytes]]:
    """5,000 real demo uplinks (about 1.5 kB each): three and a half simulated days."""
    simulator = NightSimulator(load_fleet(), start=START, seed=2026)
    messages = simulator.messages_until(START + timedelta(days=4))
    assert len(messages) >= BURST
    return messages[:BURST]


def test_start_binds_a_free_loopback_port(broker: EmbeddedBroker) -> None:
    assert broker.running
    assert broker.port > 0
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
        pass


def test_the_broker_is_not_reachable_from_other_interfaces(broker: EmbeddedBroker) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: picks the outward interface, sends nothing
        outward = probe.getsockname()[0]
    except OSError:
        pytest.skip("this machine has no outward IPv4 interface")
    finally:
        probe.close()
    if outward.startswith("127."):
        pytest.skip("this machine has no outward IPv4 interface")
    with pytest.raises(OSError):
        socket.create_connection((outward, broker.port), timeout=2).close()


def test_a_taken_port_is_reported_with_what_to_do(broker: EmbeddedBroker) -> None:
    second = EmbeddedBroker(port=broker.port)
    with pytest.raises(EmbeddedBrokerError, match="use port 0"):
        second.start()


def test_a_host_name_is_refused_in_favour_of_an_address() -> None:
    with pytest.raises(EmbeddedBrokerError, match="IP address"):
        EmbeddedBroker(host="localhost")
    assert EmbeddedBroker(host="::1", port=1883).url == "mqtt://[::1]:1883"


def test_stop_closes_the_port_and_can_be_called_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    embedded = EmbeddedBroker()
    embedded.start()
    port = embedded.port
    embedded.stop()
    embedded.stop()
    assert not embedded.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert list(tmp_path.iterdir()) == [], "the broker must not write files"


@pytest.mark.parametrize("qos", [0, 1])
def test_a_burst_of_5000_uplinks_arrives_complete(
    broker: EmbeddedBroker, uplinks: list[tuple[str, bytes]], qos: int
) -> None:
    subscriber = Collector(broker.port, TTN_UPLINKS, qos, client_id=f"burst-subscriber-{qos}")
    sender = publisher(broker.port)
    try:
        sent = [sender.publish(topic, body, qos=qos) for topic, body in uplinks]
        for info in sent:
            info.wait_for_publish(timeout=60)
        received = subscriber.wait_for(BURST, timeout=120)
        time.sleep(0.5)  # anything beyond 5,000 would be a duplicate: give it time to show
        assert received == BURST
        assert len(subscriber.messages) == BURST
        assert sorted(m.payload for m in subscriber.messages) == sorted(body for _, body in uplinks)
        assert {m.topic for m in subscriber.messages} == {topic for topic, _ in uplinks}
    finally:
        sender.disconnect()
        sender.loop_stop()
        subscriber.close()
    began = time.monotonic()
    broker.stop()
    assert time.monotonic() - began < 10, "stopping after a burst must not hang"


def test_the_simulator_publishes_ttn_uplinks_through_the_broker(broker: EmbeddedBroker) -> None:
    subscriber = Collector(broker.port, TTN_UPLINKS, 1, client_id="bridge-like")
    sender = publisher(broker.port, "wherry-demo-simulator")
    simulator = NightSimulator(load_fleet(), start=START, seed=11, speed=36_000.0)
    stop = threading.Event()

    def publish(topic: str, body: bytes) -> None:
        sender.publish(topic, body, qos=1)

    runner = threading.Thread(target=simulator.run, args=(publish, stop), daemon=True)
    began = time.monotonic()
    runner.start()
    try:
        received = subscriber.wait_for(100, timeout=30)
    finally:
        stop.set()
        runner.join(5)
        sender.disconnect()
        sender.loop_stop()
        subscriber.close()
    assert not runner.is_alive()
    assert received >= 100
    device_ids = {site.device.device_id for site in simulator.fleet.sites}
    expected = set(simulator.messages_until(simulator.sim_time(time.monotonic() - began + 1)))
    for message in subscriber.messages:
        assert (message.topic, message.payload) in expected
        uplink = json.loads(message.payload)
        device_id = uplink["end_device_ids"]["device_id"]
        assert device_id in device_ids
        assert message.topic == f"v3/wherry-demo@ttn/devices/{device_id}/up"
        assert uplink["uplink_message"]["frm_payload"]
        assert uplink["uplink_message"]["received_at"].endswith("Z")
    assert len(
        {json.loads(m.payload)["end_device_ids"]["device_id"] for m in subscriber.messages}
    ) == len(device_ids)


def test_qos1_messages_wait_for_a_persistent_session_that_is_away(broker: EmbeddedBroker) -> None:
    """The bridge keeps a persistent session with its own broker: nothing may be lost while
    it reconnects (amqtt's anonymous sessions would drop these)."""
    first = Collector(broker.port, TTN_UPLINKS, 1, client_id="wherry-bridge", clean=False)
    first.subscribe()
    first.close()
    sender = publisher(broker.port)
    try:
        for n in range(20):
            sender.publish(f"v3/wherry-demo@ttn/devices/rst-{n}/up", b"{}", qos=1).wait_for_publish(
                10
            )
    finally:
        sender.disconnect()
        sender.loop_stop()
    back = Collector(broker.port, TTN_UPLINKS, 1, client_id="wherry-bridge", clean=False)
    try:
        assert back.session_present
        assert back.wait_for(20, timeout=20) == 20
    finally:
        back.close()


# What each kind of site must give in every uplink, once decoded with its registered field map.
QUANTITIES_OF: dict[type[SiteBehaviour], set[str]] = {
    RoadProbe: {"road_surface_temperature", "battery_voltage"},
    WeatherStation: {"air_temperature", "relative_humidity", "dew_point"},
    ClassroomSensor: {"air_temperature", "relative_humidity", "co2", "pm2_5", "pm10"},
    RiverProbe: {"water_temperature", "conductivity", "water_depth", "battery_voltage"},
}
# Where the simulated values must land once converted to canonical units: a wrong unit
# or a wrong field mapping shows as a value out of these ranges.
PLAUSIBLE = {
    "road_surface_temperature": (-6.0, 9.0),
    "air_temperature": (-8.0, 25.0),
    "relative_humidity": (20.0, 100.0),
    "co2": (400.0, 3000.0),
    "pm2_5": (0.0, 30.0),
    "pm10": (0.0, 50.0),
    "water_temperature": (4.0, 8.0),
    "conductivity": (400.0, 600.0),
    "water_depth": (0.5, 1.0),
    "battery_voltage": (3.0, 3.5),
}


def test_a_night_and_a_school_day_of_uplinks_decode_with_the_registered_field_maps() -> None:
    """Every simulated uplink goes through the same parsing and decoding as a real one
    (nothing dead-lettered), and gives the quantities its device is registered for."""
    fleet = load_fleet()
    known = set(decoders.QUANTITIES)
    field_maps = {
        site.device.device_id: parse_field_map(site.device.field_map, known) for site in fleet.sites
    }
    simulator = NightSimulator(fleet, start=START, seed=2026, fault_rate=0.02)
    messages = simulator.messages_until(START + timedelta(hours=24))  # Wed 18:00 to Thu 18:00
    seen: dict[str, int] = {}
    faults = 0
    co2: list[float] = []
    for topic, body in messages:
        uplink = parse_message(topic, body)
        assert uplink is not None, topic
        site = fleet.site(uplink.device_id)
        device = site.device
        assert uplink.f_port == site.f_port
        try:
            decoded = decoders.decode(
                device.decoder,
                uplink.payload,
                uplink.f_port,
                field_map=field_maps[device.device_id],
            )
        except decoders.DecodeError as exc:
            pytest.fail(f"{device.device_id} uplink {uplink.payload.hex()} dead-lettered: {exc}")
        readings = {reading.quantity: reading for reading in decoded.readings}
        expected = QUANTITIES_OF[type(site.behaviour)]
        assert expected <= set(readings), (device.device_id, sorted(readings))
        seen[device.device_id] = seen.get(device.device_id, 0) + 1
        if decoded.vendor_fields.get("temperature") == POWER_ON_RESET_C and isinstance(
            site.behaviour, RoadProbe
        ):
            faults += 1
            surface = readings["road_surface_temperature"]
            assert surface.value == POWER_ON_RESET_C
            assert surface.invalid_reason, "an 85.0 °C power-on reading must be flagged"
            continue
        for quantity, reading in readings.items():
            assert reading.valid, (device.device_id, quantity, reading.invalid_reason)
            if quantity in PLAUSIBLE:
                low, high = PLAUSIBLE[quantity]
                assert low <= reading.value <= high, (device.device_id, quantity, reading.value)
        if "co2" in readings:
            co2.append(readings["co2"].value)
    assert set(seen) == {site.device.device_id for site in fleet.sites}
    assert faults >= 3, "the seeded night must include power-on faults to check"
    assert max(co2) > 1000.0 > 500.0 > min(co2), "the classroom must fill with CO2 in lessons"


# -- `wherry demo` as a user runs it: the story, checked through the real HTTP API ----------

STORY_SPEED = "2400"  # the eight-hour story in 12 s
HILL, BRIDGE, CENTRE = "matlock-bank", "derwent-bridge", "town-centre"
SCHOOL, RIVER, UNREGISTERED = (
    "aq-derwent-vale-primary",
    "wq-derwent-hall-leys",
    "rst-starkholmes-road",
)


class DemoProcess:
    """`wherry demo` in a subprocess, its terminal output in a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.out_path = tmp_path / "demo.out"
        self._out = self.out_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wherry", "demo", "--data-dir", str(tmp_path / "demo"),
             "--speed", STORY_SPEED, "--port", "0", "--duration", "120"],
            env=wherry_env({}),
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def output(self) -> str:
        return self.out_path.read_text()

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output
            if text in output:
                return output
            if self.process.poll() is not None:
                raise AssertionError(f"wherry demo exited {self.process.returncode}:\n{output}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} after {timeout} s:\n{self.output}")

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
            return self.process.wait(timeout=30)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoProcess, str]]:
    """The demo run until its night reaches the present, and its output up to then; then
    stopped with Ctrl-C, which must end it cleanly (checked here, whatever order the tests
    using it run in)."""
    running = DemoProcess(tmp_path_factory.mktemp("wherry-demo"))
    try:
        output = running.wait_for("the night has reached the present", timeout=60)
        yield running, output
        status = running.interrupt()
        assert status == 0, f"Ctrl-C: exit status {status}\n{running.output}"
        assert "stopped. " in running.output
        assert "Traceback" not in running.output
    finally:
        running.kill()


def api(output: str) -> httpx.Client:
    """A client for the demo's API, signed in with the admin key it printed."""
    base = re.search(r"gritting board +(http://127\.0\.0\.1:\d+)/board", output)
    key = re.search(r"^\s+(wherry_[0-9a-f]{12}_\S+)$", output, re.MULTILINE)
    assert base and key, output
    return httpx.Client(
        base_url=f"{base.group(1)}/api/v1",
        headers={"Authorization": f"Bearer {key.group(1)}"},
        timeout=10,
    )


def transitions(client: httpx.Client, route_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/routes/{route_id}/transitions")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["transitions"]
    return found


def surface_readings(client: httpx.Client, device_id: str) -> list[tuple[datetime, float]]:
    response = client.get(
        f"/devices/{device_id}/readings",
        params={"quantity": "road_surface_temperature", "limit": 5000},
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next"] is None
    return [(datetime.fromisoformat(r["time"]), float(r["value"])) for r in page["readings"]]


def test_the_hill_route_turns_to_treat_ahead_of_its_first_frost(
    demo: tuple[DemoProcess, str],
) -> None:
    _, output = demo
    with api(output) as client:
        hill = transitions(client, HILL)
        treat = [t for t in hill if t["recommendation"] == "TREAT"]
        assert treat, hill
        first_treat = datetime.fromisoformat(treat[0]["at"])
        assert treat[0]["state"] == "MARGINAL", "TREAT must come from the frost forecast"
        assert "ahead of frost" in treat[0]["explanation"]
        sensors = [
            s["device_id"] for s in client.get(f"/routes/{HILL}/status").json()["detail"]["sensors"]
        ]
        frosts = [
            at for device_id in sensors for at, value in surface_readings(client, device_id)
            if value <= 0.0
        ]  # fmt: skip
        assert frosts, "the hill must freeze in the demo's night"
        assert first_treat < min(frosts), (first_treat, min(frosts))
        assert all(t["state"] != "UNKNOWN" for t in hill), "no fail-safe TREAT at start-up"
    assert "salt goes down ahead of the frost" in output
    assert "ahead of the frost" in output.split("TREAT (freezing)")[1].splitlines()[0]


def test_the_bridge_stays_marginal_and_the_town_centre_clear(
    demo: tuple[DemoProcess, str],
) -> None:
    _, output = demo
    with api(output) as client:
        bridge, centre = transitions(client, BRIDGE), transitions(client, CENTRE)
        assert all(t["recommendation"] != "TREAT" for t in bridge + centre), (bridge, centre)
        assert any(t["recommendation"] == "MONITOR" for t in bridge), bridge
        board = {r["route_id"]: r for r in client.get("/board").json()["routes"]}
        assert board[HILL]["recommendation"] == "TREAT"
        assert board[BRIDGE]["recommendation"] != "TREAT"
        assert board[CENTRE]["recommendation"] == "NO_ACTION"


def test_the_school_is_open_data_the_river_reports_and_the_new_sensor_waits(
    demo: tuple[DemoProcess, str],
) -> None:
    _, output = demo
    with api(output) as client:
        base = str(client.base_url).rstrip("/")
        public = httpx.get(f"{base}/open/devices", timeout=10)  # no key needed
        assert public.status_code == 200, public.text
        listed = {d["device_id"]: d for d in public.json()["devices"]}
        assert set(listed) == {SCHOOL}, "only the school's sensor is public"
        assert listed[SCHOOL]["latest_reading_at"] is not None
        river = client.get(f"/devices/{RIVER}/readings", params={"quantity": "water_depth"})
        assert river.status_code == 200, river.text
        assert len(river.json()["readings"]) >= 20  # every 15 simulated minutes for 10 h
        sightings = client.get("/sightings").json()["sightings"]
        assert [s["device_id"] for s in sightings] == [UNREGISTERED]
        assert sightings[0]["count"] >= 20
    assert f"unregistered device is sending uplinks: {UNREGISTERED}" in output


def test_the_night_ends_now_with_no_reading_in_the_future(demo: tuple[DemoProcess, str]) -> None:
    """The pages judge freshness by the wall clock: the readings must look recent, and none
    may be stamped after the moment it was stored."""
    _, output = demo
    with api(output) as client:
        latest = client.get("/readings/latest").json()["devices"]
        now = datetime.now(UTC)
        assert len(latest) == 10
        for device in latest:
            at = datetime.fromisoformat(device["time"])
            assert now - timedelta(minutes=20) < at <= now, (device["device_id"], at, now)
        readings = surface_readings(client, "rst-smedley-street")
        assert readings[0][0] < now - timedelta(hours=9), "the night began about ten hours ago"

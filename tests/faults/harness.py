"""What the fault tests share: a fleet of road sensors, a QoS 1 publisher, `wherry run` with
its API on a free port, and exact counting of what reached InfluxDB.

Every uplink has its own (device, f_cnt) and network-server time, so "stored exactly once"
is checked by comparing the set of (device, f_cnt) read back with the set published.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from storage import open_store
from storage.influx import InfluxStore
from tests import servers
from tests.uplinks import dl_ds18_payload, encode, ttn_topic, ttn_uplink
from tests.wherry_process import WherryRun, wherry

APP = "wherry-faults"
START_NS = 1_768_446_000_000_000_000  # 2026-01-15T03:00:00Z
TEN_MINUTES_NS = 600 * 1_000_000_000


@dataclass(frozen=True)
class Fleet:
    """`devices` DL-DS18 road sensors, each sending `per_device` uplinks (two points each)."""

    devices: int = 100
    per_device: int = 500

    @property
    def size(self) -> int:
        return self.devices * self.per_device

    def device_id(self, index: int) -> str:
        return f"road-{index:03d}"

    def registry_csvs(self, directory: Path) -> tuple[Path, Path]:
        routes = directory / "routes.csv"
        routes.write_text("route_id,name,length_km,priority,area\nhill,Castle Hill,4.2,1,north\n")
        lines = [
            "device_id,dev_eui,name,decoder,domain,route_id,latitude,longitude,public,owner,"
            "field_map"
        ]
        for index in range(self.devices):
            lines.append(
                f"{self.device_id(index)},70b3d57ed006{index:04x},Road {index},"
                "decentlab-dl-ds18,road,hill,52.62,1.29,false,council,"
            )
        devices = directory / "devices.csv"
        devices.write_text("\n".join(lines) + "\n")
        return devices, routes

    def message(self, index: int, f_cnt: int) -> tuple[str, bytes]:
        device_id = self.device_id(index)
        body = ttn_uplink(
            device_id,
            received_at_ns=START_NS + f_cnt * TEN_MINUTES_NS + index * 1_000_003 + 123_456_789,
            f_cnt=f_cnt,
            payload=dl_ds18_payload(index, 4.0 - f_cnt * 0.0625, 3.0),
            application_id=APP,
        )
        return ttn_topic(device_id, APP), encode(body)

    def messages(self, f_cnts: range | None = None) -> Iterator[tuple[str, bytes]]:
        """Round by round: every device's f_cnt 0, then every device's 1, …"""
        for f_cnt in f_cnts if f_cnts is not None else range(self.per_device):
            for index in range(self.devices):
                yield self.message(index, f_cnt)

    def expected(self, f_cnts: range | None = None) -> set[tuple[str, int]]:
        rounds = f_cnts if f_cnts is not None else range(self.per_device)
        return {(self.device_id(i), f) for f in rounds for i in range(self.devices)}


class Publisher:
    """Publishes at QoS 1 to the broker in a background thread (the broker queues for wherry)."""

    def __init__(self, port: int, messages: Iterator[tuple[str, bytes]]) -> None:
        self.port = port
        self.published = 0
        self.error: BaseException | None = None
        self._messages = messages
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def join(self, timeout: float = 120) -> int:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the publisher did not finish"
        if self.error is not None:
            raise self.error
        return self.published

    def _run(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"publisher-{uuid.uuid4().hex[:8]}"
        )
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        try:
            infos = []
            for topic, body in self._messages:
                infos.append(client.publish(topic, body, qos=1))
                if len(infos) >= 2000:
                    self._confirm(infos)
            self._confirm(infos)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            client.loop_stop()
            client.disconnect()

    def _confirm(self, infos: list[mqtt.MQTTMessageInfo]) -> None:
        for info in infos:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                raise AssertionError("the broker did not take a message")
        self.published += len(infos)
        infos.clear()


@dataclass
class Wherry:
    """`wherry run` for a fault test: its environment, its runs (one per start) and its API."""

    directory: Path
    env: dict[str, str]
    api_port: int
    runs: list[WherryRun] = field(default_factory=list)

    @property
    def current(self) -> WherryRun:
        return self.runs[-1]

    def start(self, wait_subscribed: bool = True) -> WherryRun:
        run = WherryRun(self.env, self.directory / f"wherry-{len(self.runs) + 1}.log")
        self.runs.append(run)
        if wait_subscribed:
            run.wait_for_log("subscribed", timeout=60)
        return run

    @property
    def log(self) -> str:
        return "\n".join(run.log for run in self.runs)

    def readyz(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.api_port}/readyz", timeout=5)

    def gauges(self) -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{self.api_port}/metrics", timeout=5).text
        return {
            name: float(value)
            for name, value in re.findall(r"^wherry_(\w+) ([0-9.e+-]+)$", text, re.MULTILINE)
        }

    def stop_all(self) -> None:
        for run in self.runs:
            run.kill()

    def counters(self, run: WherryRun) -> dict[str, int]:
        """The counts `wherry run` logs when it stops cleanly."""
        stopped = run.log.rsplit("stopped: ", 1)[1].splitlines()[0]
        counts: dict[str, int] = json.loads(stopped.replace("'", '"'))
        return counts


def prepare_wherry(
    directory: Path,
    fleet: Fleet,
    *,
    store_url: str,
    mqtt_port: int,
    **settings: str,
) -> Wherry:
    """Register the fleet and give wherry a fixed client id: its session outlives a process."""
    api_port = servers.free_port()
    env = {
        "WHERRY_DATA_DIR": str(directory / "data"),
        "WHERRY_REGISTRY_URL": f"sqlite:///{directory / 'registry.db'}",
        "WHERRY_STORE_URL": store_url,
        "WHERRY_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "WHERRY_MQTT_TOPICS": f"v3/{APP}@ttn/devices/+/up",
        "WHERRY_MQTT_QOS": "1",
        "WHERRY_MQTT_CLIENT_ID": f"wherry-faults-{uuid.uuid4().hex[:8]}",
        "WHERRY_FLUSH_INTERVAL": "0.2",
        "WHERRY_API_PORT": str(api_port),
        "WHERRY_LOG_LEVEL": "INFO",
        **{f"WHERRY_{name.upper()}": value for name, value in settings.items()},
    }
    devices_csv, routes_csv = fleet.registry_csvs(directory)
    for args in (("routes", "import", str(routes_csv)), ("devices", "import", str(devices_csv))):
        result = wherry(*args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    return Wherry(directory, env, api_port)


@contextmanager
def own_influxd(directory: Path) -> Iterator[servers.ServerProcess]:
    """An influxd for one test alone: fault tests kill it."""
    server = servers.influxd(directory)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running(bridge: Wherry) -> Iterator[Wherry]:
    """Kill whatever `wherry run` is left when the test ends."""
    try:
        yield bridge
    finally:
        bridge.stop_all()


def influx_url(server: servers.ServerProcess) -> str:
    return f"influxdb://127.0.0.1:{server.port}/wherry_faults"


def open_influx(server: servers.ServerProcess) -> InfluxStore:
    store = open_store(influx_url(server))
    assert isinstance(store, InfluxStore)
    return store


def stored_uplinks(server: servers.ServerProcess) -> list[tuple[str, int]]:
    """Every uplink point in InfluxDB as (device, f_cnt): duplicates would show as repeats."""
    store = open_influx(server)
    try:
        return [
            (str(p.tags["device_id"]), int(p.fields["f_cnt"]))
            for p in store.query("uplink", fields=["f_cnt"])
        ]
    finally:
        store.close()


def count(server: servers.ServerProcess, measurement: str = "uplink", field: str = "f_cnt") -> int:
    store = open_influx(server)
    try:
        return store.count(measurement, field)
    except Exception:
        return -1  # not answering (yet)
    finally:
        store.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took for `condition` to hold; fails with `what` after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def report(title: str, **figures: object) -> None:
    """Print the figures a run observed (pytest -s shows them; docs/reliability.md keeps them)."""
    print(f"\n[faults] {title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))

"""`wherry demo`: the whole ingest path on embedded defaults, with nothing installed by hand.

An embedded MQTT broker, the demo town's devices registered from its CSVs, the real
bridge subscribed over MQTT, SQLite storage, and a simulator publishing TTN uplinks
through a winter night at `speed`× real time. Prints what arrives until Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway_bridge.sources.mqtt import MqttSource
from storage import ReadingStore, open_store
from storage.registry import Registry
from wherry.bridge import Bridge, build_bridge
from wherry.demo.broker import EmbeddedBroker, quiet_amqtt_logging
from wherry.demo.fleet import DEVICES_CSV, ROUTES_CSV, Fleet, load_fleet
from wherry.demo.simulator import NightSimulator
from wherry.imports import import_devices_file, import_routes_file
from wherry.service import mqtt_options
from wherry.settings import Settings

PROGRESS_EVERY_S = 3.0
Echo = Callable[[str], None]


def demo_settings(data_dir: Path, broker_url: str) -> Settings:
    """The demo's own settings: WHERRY_* variables are deliberately not read."""
    return Settings.model_construct().model_copy(
        update={
            "data_dir": data_dir,
            "mqtt_url": broker_url,
            "mqtt_topics": ("v3/+/devices/+/up",),
            "flush_interval": 0.5,
        }
    )


def last_evening() -> datetime:
    """Yesterday 18:00 local: the simulated night lies in the past, as stored data should."""
    now = datetime.now().astimezone()
    return (now - timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)


def run_demo(*, data_dir: Path, speed: float, duration: float | None, echo: Echo = print) -> int:
    quiet_amqtt_logging()
    data_dir = data_dir.resolve()
    broker = EmbeddedBroker()
    broker.start()
    settings = demo_settings(data_dir, broker.url)
    data_dir.mkdir(parents=True, exist_ok=True)

    echo(f"wherry demo — embedded MQTT broker at {broker.url}")
    if import_routes_file(settings, ROUTES_CSV, dry_run=False, echo=echo) != 0:
        return 1
    if import_devices_file(settings, DEVICES_CSV, dry_run=False, echo=echo) != 0:
        return 1

    registry = Registry(settings.effective_registry_url)
    store = open_store(settings.effective_store_url)
    bridge = build_bridge(settings, store, registry)
    source = MqttSource(mqtt_options(settings), bridge.pipeline.handle)
    source.start()
    if not source.wait_connected(10):
        echo(f"the bridge could not subscribe to the embedded broker: {source.last_error}")
        return 1

    fleet = load_fleet()
    simulator = NightSimulator(fleet, speed=speed, start=last_evening())
    stop = threading.Event()
    _stop_on_signals(stop)
    publisher = _publisher(broker.port)
    feeder = threading.Thread(
        target=simulator.run, args=(_publish_with(publisher), stop), name="simulator", daemon=True
    )
    feeder.start()

    echo(
        f"readings store: {data_dir / 'readings.db'} (SQLite)\n"
        f"registry:       {data_dir / 'registry.db'} (devices, routes, dead letters, sightings)\n"
        f"simulating {len(fleet.sites)} sensors in {len(fleet.routes)} gritting routes from "
        f"{simulator.start:%a %d %b %H:%M} at {speed:g}× real time. Ctrl-C stops the demo.\n"
    )
    began = time.monotonic()
    try:
        while not stop.wait(PROGRESS_EVERY_S):
            echo(_progress(bridge, store, fleet, simulator.sim_time(time.monotonic() - began)))
            if duration is not None and time.monotonic() - began >= duration:
                stop.set()
    finally:
        stop.set()
        feeder.join(5)
        publisher.loop_stop()
        publisher.disconnect()
        source.stop()
        bridge.close()
        counts = bridge.counters.snapshot()
        store.close()
        registry.close()
        broker.stop()
    echo(
        f"\nstopped. {counts.get('uplinks_accepted', 0)} uplinks stored, "
        f"{counts.get('readings_flagged', 0)} implausible readings flagged.\n"
        f"The data stays in {data_dir}. To look at it again:\n"
        f"  WHERRY_DATA_DIR={data_dir} wherry dead-letters\n"
        f"  sqlite3 {data_dir / 'readings.db'} 'select count(*) from sample'"
    )
    return 0


def _progress(bridge: Bridge, store: ReadingStore, fleet: Fleet, sim_now: datetime) -> str:
    """One line per route: the latest road-surface temperatures, coldest first."""
    counts = bridge.counters.snapshot()
    since = int((sim_now - timedelta(minutes=30)).timestamp() * 1e9)
    lines = [
        f"[{sim_now:%a %H:%M}] {counts.get('uplinks_accepted', 0)} uplinks stored, "
        f"{counts.get('readings_flagged', 0)} flagged"
    ]
    for route in fleet.routes:
        latest: dict[str, float] = {}
        for point in store.query("reading", tags={"route": route.route_id}, start_ns=since):
            value = point.fields.get("road_surface_temperature")
            if isinstance(value, float):
                latest[point.tags["device_id"]] = value
        if latest:
            temperatures = ", ".join(f"{v:+.1f}" for v in sorted(latest.values()))
            lines.append(f"    {route.name[:44]:<44} road surface °C: {temperatures}")
    return "\n".join(lines)


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wherry-demo-simulator")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _publish_with(client: mqtt.Client) -> Callable[[str, bytes], None]:
    def publish(topic: str, body: bytes) -> None:
        client.publish(topic, body, qos=0)

    return publish


def _stop_on_signals(stop: threading.Event) -> None:
    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(data_dir=Path("wherry-demo-data"), speed=600.0, duration=None))

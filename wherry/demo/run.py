"""`wherry demo`: the whole of wherry on embedded defaults, with nothing installed by hand.

An embedded MQTT broker, the demo town's devices registered from its CSVs, the real
bridge subscribed over MQTT, SQLite storage, the alert engine and the HTTP API with
its pages, wired as `wherry run` wires them (`wherry.service`, `wherry.alerting`);
and a simulator publishing TTN uplinks through a winter night at `speed`× real time.
The night is placed so that it ends about now (`wherry.demo.story`), then the demo
carries on in real time until Ctrl-C.
"""

from __future__ import annotations

import errno
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from gateway_bridge.sources.mqtt import MqttSource
from gateway_bridge.uplink import RawMessage
from wherry.alerting import Alerting, build_alerting
from wherry.api_server import ApiServer
from wherry.bridge import Bridge
from wherry.demo.broker import EmbeddedBroker, EmbeddedBrokerError, quiet_amqtt_logging
from wherry.demo.clock import DemoClock
from wherry.demo.fleet import DEVICES_CSV, ROUTES_CSV, load_fleet
from wherry.demo.narrator import Narrator, clock
from wherry.demo.simulator import NightSimulator, to_ns
from wherry.demo.story import Timeline, place_night
from wherry.imports import import_devices_file, import_routes_file
from wherry.keys import issue
from wherry.service import api_services, bridge_gauges, mqtt_options, open_bridge
from wherry.settings import Settings

DEFAULT_PORT = 8080
HOST = "127.0.0.1"
TELL_EVERY_S = 0.25
ENGINE_DELAY_S = 10.0  # the engine's silence timers run this far behind (clock.py)
HISTORY_WAIT_S = 30.0
SEED = 2026  # the same night every time (any seed tells the story: checked for forty)
# What the demo writes in its data dir; a dir holding anything else is not the demo's.
DEMO_FILES = frozenset(
    {
        f"{name}.db{suffix}"
        for name in ("readings", "registry")
        for suffix in ("", "-wal", "-shm", "-journal")
    }
    | {"spool", "session.key"}
)
Echo = Callable[[str], None]


class DemoError(Exception):
    """The demo cannot start, with what to do about it."""


def demo_settings(data_dir: Path, broker_url: str, port: int = DEFAULT_PORT) -> Settings:
    """The demo's own settings: WHERRY_* variables are deliberately not read."""
    return Settings.model_construct().model_copy(
        update={
            "data_dir": data_dir,
            "mqtt_url": broker_url,
            "mqtt_topics": ("v3/+/devices/+/up",),
            "flush_interval": 0.5,
            "api_host": HOST,
            "api_port": port,
        }
    )


def fresh_data_dir(data_dir: Path) -> None:
    """Empty `data_dir` of a previous demo's night (each demo tells its own); refuse a
    directory holding anything the demo does not write."""
    if data_dir.is_dir():
        foreign = sorted(p.name for p in data_dir.iterdir() if p.name not in DEMO_FILES)
        if foreign:
            raise DemoError(
                f"{data_dir} holds files the demo did not write ({', '.join(foreign[:3])}); "
                "choose another directory with --data-dir"
            )
        shutil.rmtree(data_dir)
    elif data_dir.exists():
        raise DemoError(f"{data_dir} is not a directory; choose another with --data-dir")
    data_dir.mkdir(parents=True)


def choose_port(requested: int | None) -> tuple[int, str | None]:
    """The port for the pages and a note when it is not the one asked for.

    None: 8080, or a free port when 8080 is taken. 0: any free port. Another
    port that is taken: DemoError saying what to do.
    """
    if requested is None:
        if _can_listen(DEFAULT_PORT):
            return DEFAULT_PORT, None
        port = _free_port()
        return port, f"port {DEFAULT_PORT} is taken, so the pages are on port {port} instead"
    if requested == 0:
        return _free_port(), None
    if not _can_listen(requested):
        raise DemoError(
            f"port {requested} is taken (another wherry?): choose another with --port, "
            "or --port 0 for any free port"
        )
    return requested, None


def _can_listen(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    """What a started demo has running, in the order it is stopped (the reverse of start)."""

    broker: EmbeddedBroker
    bridge: Bridge | None = None
    alerting: Alerting | None = None
    api: ApiServer | None = None
    source: MqttSource | None = None
    publisher: mqtt.Client | None = None
    feeder: threading.Thread | None = None

    def stop(self, stop: threading.Event) -> bool:
        """Stop publishing, store what is in flight, then close everything; True when clean."""
        stop.set()
        if self.feeder is not None:
            self.feeder.join(5)
        if self.publisher is not None:
            self.publisher.loop_stop()
            self.publisher.disconnect()
        clean = True
        bridge = self.bridge
        if bridge is not None:
            bridge.intake.close()
            clean = bridge.flush(10.0)
            if self.source is not None:
                bridge.intake.settle()
        if self.source is not None:
            self.source.stop()
        if self.alerting is not None:
            self.alerting.broadcaster.close()  # live-stream clients let go, so the API can stop
        if self.api is not None:
            self.api.stop()
        if bridge is not None:
            clean = bridge.close(10.0) and clean
        if self.alerting is not None:
            self.alerting.close()
        if bridge is not None:
            bridge.store.close()
            bridge.registry.close()
        self.broker.stop()
        return clean


def run_demo(
    *,
    data_dir: Path,
    speed: float,
    duration: float | None,
    port: int | None = None,
    web: bool = True,
    echo: Echo = print,
) -> int:
    """Run the demo until Ctrl-C (or `duration` real seconds); the exit status."""
    quiet_amqtt_logging()
    data_dir = data_dir.resolve()
    try:
        chosen_port, port_note = choose_port(port) if web else (DEFAULT_PORT, None)
        fresh_data_dir(data_dir)
        broker = EmbeddedBroker()
        broker.start()
    except (DemoError, EmbeddedBrokerError) as exc:
        echo(f"wherry demo: {exc}")
        return 1
    settings = demo_settings(data_dir, broker.url, chosen_port)
    stop = threading.Event()
    running = Running(broker)
    try:
        status = _run(settings, running, stop, speed, duration, web, port_note, echo)
    finally:
        clean = running.stop(stop)
    counts = running.bridge.counters.snapshot() if running.bridge is not None else {}
    echo(
        f"\nstopped. {counts.get('uplinks_accepted', 0)} uplinks stored, "
        f"{counts.get('readings_flagged', 0)} implausible readings flagged.\n"
        f"The data stays in {data_dir} until the next demo. To look at it again:\n"
        f"  WHERRY_DATA_DIR={data_dir} wherry api   (the pages, without the simulator)\n"
        f"  sqlite3 {data_dir / 'readings.db'} 'select count(*) from sample'"
    )
    return status if clean else 1


def _run(
    settings: Settings,
    running: Running,
    stop: threading.Event,
    speed: float,
    duration: float | None,
    web: bool,
    port_note: str | None,
    echo: Echo,
) -> int:
    _stop_on_signals(stop)  # Ctrl-C while starting: start, then stop at once, cleanly
    echo(f"wherry demo — embedded MQTT broker at {running.broker.url}")
    if import_routes_file(settings, ROUTES_CSV, dry_run=False, echo=echo) != 0:
        return 1
    if import_devices_file(settings, DEVICES_CSV, dry_run=False, echo=echo) != 0:
        return 1
    token = issue(settings, role="admin", label="wherry demo", expires=None)[0] if web else None

    fleet = load_fleet()
    night = place_night(datetime.now().astimezone())
    simulator = NightSimulator(
        fleet,
        speed=speed,
        start=night.history_from,
        seed=SEED,
        physics_shift=night.physics_shift,
    )
    data_clock = DemoClock(to_ns(night.story_from), speed)

    bridge = running.bridge = open_bridge(settings)
    source = running.source = MqttSource(mqtt_options(settings), bridge.intake.handle)
    source.start()
    if not source.wait_connected(10):
        echo(f"the bridge could not subscribe to the embedded broker: {source.last_error}")
        return 1
    _store_history(bridge, simulator, night)

    alerting = running.alerting = build_alerting(
        settings,
        bridge.registry,
        bridge.store,
        bridge.counters,
        clock=data_clock.engine_clock(ENGINE_DELAY_S),
    )
    bridge.pipeline.observe = alerting.submit
    base = f"http://{HOST}:{settings.api_port}"
    if web:
        app = create_app(
            api_services(settings, bridge, alerting), gauges=bridge_gauges(bridge, alerting)
        )
        running.api = ApiServer(app, settings.api_host, settings.api_port)
        try:
            running.api.start()
        except RuntimeError as exc:
            running.api = None
            echo(f"wherry demo: {exc}: choose another port with --port")
            return 1

    echo(_introduction(night, speed, len(fleet.sites), base if web else None, token, port_note))
    narrator = Narrator(
        fleet, bridge.registry, bridge.store, echo, f"{base}/sightings" if web else None
    )
    narrator.tell(night.story_from)
    publisher = running.publisher = _publisher(running.broker.port)
    running.feeder = threading.Thread(
        target=simulator.run,
        args=(_publish_with(publisher), stop, data_clock),
        name="simulator",
        daemon=True,
    )
    running.feeder.start()
    began = time.monotonic()
    live = False
    while not stop.wait(TELL_EVERY_S):
        sim_now = datetime.fromtimestamp(data_clock.now_ns() / 1e9).astimezone()
        narrator.tell(sim_now)
        if not live and data_clock.caught_up():
            live = True
            echo(
                f"{clock(sim_now)}  the night has reached the present: the demo goes on in "
                "real time (an uplink every 10 minutes per sensor). Ctrl-C stops it."
            )
        if duration is not None and time.monotonic() - began >= duration:
            stop.set()
    return 0


def _store_history(bridge: Bridge, simulator: NightSimulator, night: Timeline) -> None:
    """The afternoon before the story, straight into the bridge (as a backfill would), so
    the engine warms up on it and starts with every route decided."""
    for topic, body in simulator.messages_until(night.story_from):
        bridge.intake.handle(RawMessage(topic, body, time.time_ns()))
    bridge.flush(HISTORY_WAIT_S)


def _introduction(
    night: Timeline,
    speed: float,
    sensors: int,
    base: str | None,
    token: str | None,
    port_note: str | None,
) -> str:
    seconds = (night.live_from - night.story_from).total_seconds() / speed
    lines = [
        "",
        f"A winter night in Matlock, replayed at {speed:g}× real time so that it ends now, in "
        f"about {seconds:.0f} s. Roads cool from dusk at {clock(night.dusk)}: the hill route "
        "(Matlock Bank) is forecast to freeze and turns to TREAT ahead of the frost, the bridge "
        "is marginal (MONITOR), the town centre stays clear. A school's air-quality sensor "
        "(public: open data), a river sensor and a new road sensor nobody has registered yet "
        f"report too: {sensors} sensors in all. Times are UTC, as on the pages.",
    ]
    if base is not None:
        if port_note:
            lines.append(port_note + " (choose one with --port).")
        lines += [
            "",
            f"  gritting board  {base}/board",
            f"  open data       {base}/open       (no key needed)",
            f"  devices         {base}/devices",
            f"  sightings       {base}/sightings  (the unregistered sensor waits here)",
            f"  API docs        {base}/docs",
            "",
            f"Demo admin key, shown once: sign in with it at {base}/signin",
            f"(or send it to the API as 'Authorization: Bearer <key>'):\n  {token}",
        ]
    lines.append("\nCtrl-C stops the demo.\n")
    return "\n".join(lines)


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wherry-demo-simulator")
    client.connect(HOST, port)
    client.loop_start()
    return client


def _publish_with(client: mqtt.Client) -> Callable[[str, bytes], None]:
    def publish(topic: str, body: bytes) -> None:
        client.publish(topic, body, qos=1)

    return publish


def _stop_on_signals(stop: threading.Event) -> None:
    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(data_dir=Path("wherry-demo-data"), speed=600.0, duration=None))

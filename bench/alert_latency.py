"""Latency from an uplink's arrival to its route status saved and its webhook received.

    .venv/bin/python bench/alert_latency.py [--rate 1000] [--seconds 60] [--routes 300]
                                            [--baseline-seconds 30] [--spread N]
                                            [--store sqlite|influxdb]

The target (the alert engine's issue): p99 under 1 s at 1,000 uplinks/s, on this machine.

Everything runs in this one process and is wired as `wherry run` wires it: `build_bridge`
and `build_alerting` with a `Settings` on a temporary data dir, the SQLite registry and
(by default) the SQLite readings store, `gc.freeze()` after start-up, and the engine's
`submit` as the pipeline's `observe`. `--store influxdb` starts a real `influxd`
(tests/servers.py) for the readings instead.

The fleet: `--routes` routes with three Decentlab DL-DS18 road probes each and a weather
station (Cayenne LPP air temperature and humidity, so a dew point) on every third route;
300 routes make 1,000 devices. One webhook subscription for road alerts points at a real
HTTP receiver on a thread (tests/alerts/notify/receivers.py).

The feed: TTN v3 uplink messages, built before the clock starts, handed as `RawMessage`s
to `bridge.intake.handle` (the door every transport calls, straight into `pipeline.handle`)
from one thread, as the MQTT source's thread does, at `--rate` per second of wall time,
open loop: each message has its due time, and latency is counted from that time, so a
feeder held up by the process counts against wherry. Each round of the fleet is one
10-minute reading interval of data time, so the data clock runs 600 times faster than the
wall clock at 1,000 devices and 1,000 uplinks/s. Every route starts at about +4 °C and,
from its own round on, falls 0.25 °C per reading (1.5 °C/h): routes go CLEAR → MARGINAL
with MONITOR (a `raised` webhook) → MARGINAL with TREAT once the forecast calls frost
(an `escalated` webhook) → FREEZING, at staggered moments through the run.

Three warm-up rounds come first and are not measured: they carry every route's first
decision and, on a fresh start, the fail-safe TREAT alerts that the engine raises for
routes with no data yet and clears at their first reading (600 webhooks). What they cost
is reported as `start_up`.

Measured for the engine run:

- route status: arrival of the uplink that changed a route → `RegistryOutbox.route_changed`
  returned (the `route` event published and the registry write queued for its writer thread);
- notification: arrival → the receiver has the webhook POST. Each decision and alert
  carries the data time of the observation that caused it (`at`); data times are unique
  per uplink (1 ms apart), so `at` names the uplink;
- the engine's dropped observations, queue depth, the feeder's lateness, CPU of the
  process and of each thread.

The baseline, in the same run and first: the same messages at the same rate with the
alert engine off (`Settings.alerts` false: the pipeline, store and registry only), for
`--baseline-seconds`. Its CPU per uplink against the engine run's is what the engine costs.

Prints a table and writes bench/results/alert_latency.json. Nothing is left behind.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # this file lives in bench/: import the packages from the root

from alerts.engine import Outbox  # noqa: E402
from alerts.model import AlertEvent, RouteDecision  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from gateway_bridge.uplink import RawMessage  # noqa: E402
from storage import open_store  # noqa: E402
from storage.registry import DeviceRow, NewSubscription, Registry, RouteRow  # noqa: E402
from tests.alerts.notify.receivers import Received, WebhookReceiver  # noqa: E402
from tests.uplinks import (  # noqa: E402
    cayenne_temperature_humidity,
    dl_ds18_payload,
    encode,
    ttn_topic,
    ttn_uplink,
)
from wherry.alerting import Alerting, build_alerting, spool_condition  # noqa: E402
from wherry.bridge import Bridge, build_bridge  # noqa: E402
from wherry.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "alert_latency.json"
TARGET_P99_S = 1.0
TARGET_RATE = 1000.0
APPLICATION = "county-roads"
MS = 1_000_000
INTERVAL_NS = 10 * 60 * 1_000_000_000  # one reading interval of data time per fleet round
PROBES_PER_ROUTE = 3
STATION_EVERY = 3  # a weather station on every third route
START_C = 4.0
FALL_PER_ROUND_C = 0.25  # 1.5 °C/h at 10-minute readings
FLOOR_C = -3.0
WARM_ROUNDS = 3  # every route stays warm this long: its first decision is CLEAR
STATION_ABOVE_ROAD_C = 1.5
STATION_HUMIDITY = 80.0  # dew point ≈ 3.3 °C below the air, 1.8 °C below the road: no frost
SECRET = "bench-webhook-secret-0123456789"


# -- the fleet and its uplinks --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    dev_eui: str
    route: int  # index into the route list
    probe: int | None  # 0..2 for a road probe; None for the route's weather station


def route_ids(count: int) -> list[str]:
    return [f"route-{n:03d}" for n in range(1, count + 1)]


def fleet(routes: int) -> list[Device]:
    """Devices in the order they report in each round: probe 0 of every route, then probe 1…,
    then the weather stations, so a route's sensors speak at different moments of a round."""
    ids = route_ids(routes)
    sensors: list[tuple[str, int, int | None]] = [
        (f"rst-{route_id}-{probe + 1}", route, probe)
        for probe in range(PROBES_PER_ROUTE)
        for route, route_id in enumerate(ids)
    ]
    sensors += [
        (f"wx-{route_id}", route, None)
        for route, route_id in enumerate(ids)
        if route % STATION_EVERY == 0
    ]
    return [
        Device(device_id, f"70b3d57e{n + 1:08x}", route, probe)
        for n, (device_id, route, probe) in enumerate(sensors)
    ]


def register(registry: Registry, routes: int, devices: Sequence[Device], hook_url: str) -> None:
    ids = route_ids(routes)
    registry.apply_route_import(
        [RouteRow(id_, f"Route {id_}", 8.5, 1 + n % 3, "town") for n, id_ in enumerate(ids)],
        actor="bench",
    )
    registry.apply_device_import(
        [
            DeviceRow(
                device_id=device.device_id,
                dev_eui=device.dev_eui,
                name=device.device_id,
                decoder="decentlab-dl-ds18" if device.probe is not None else "cayenne-lpp",
                domain="road",
                route_id=ids[device.route],
                latitude=53.1 + device.route / 1000,
                longitude=-1.56 + (device.probe or 0) / 1000,
                public=False,
                owner="County council",
                field_map={},
            )
            for device in devices
        ],
        actor="bench",
    )
    registry.create_subscription(
        NewSubscription(
            name="highways duty officer (road alerts)",
            channel="webhook",
            target=hook_url,
            secret=SECRET,
            domains=("road",),
            min_severity="warning",
        ),
        actor="bench",
    )


def widest_spread(rounds: int) -> int:
    """Over how many rounds routes can start to cool so that the last one still freezes."""
    to_freeze = math.ceil((START_C + 0.2 * PROBES_PER_ROUTE) / FALL_PER_ROUND_C) + 2
    return max(1, rounds - WARM_ROUNDS - to_freeze)


def fall_starts(routes: int, spread: int) -> list[int]:
    """The round at which each route starts to cool, staggered over `spread` rounds
    (1: every route at once, the burst a cold front crossing the whole county makes)."""
    order = list(range(routes))
    random.Random(routes).shuffle(order)  # neighbours in a round do not all cool together
    return [WARM_ROUNDS + place * spread // routes for place in order]


def road_c(start: int, probe: int, round_index: int) -> float:
    """A probe's surface temperature: +4 °C (probes 0.2 °C apart) until `start`, then falling."""
    cooled = max(0, round_index - start) * FALL_PER_ROUND_C
    return max(FLOOR_C, START_C + 0.2 * probe - cooled)


@dataclass(frozen=True, slots=True)
class Message:
    data_ns: int  # the uplink's received_at: unique, 1 ms apart within a round
    topic: str
    body: bytes


def messages(
    devices: Sequence[Device], rounds: int, routes: int, spread: int, t0_ns: int
) -> list[Message]:
    """Every uplink of the run, in order; data times rise strictly, so the engine's data
    clock at each decision is the time of the uplink that caused it."""
    starts = fall_starts(routes, spread)
    out: list[Message] = []
    for round_index in range(rounds):
        base = t0_ns + round_index * INTERVAL_NS
        for slot, device in enumerate(devices):
            start = starts[device.route]
            if device.probe is not None:
                payload = dl_ds18_payload(
                    device.probe + 1, road_c(start, device.probe, round_index)
                )
            else:
                air = road_c(start, 0, round_index) + STATION_ABOVE_ROAD_C
                payload = cayenne_temperature_humidity(air, STATION_HUMIDITY)
            data_ns = base + slot * MS
            uplink = ttn_uplink(
                device.device_id,
                received_at_ns=data_ns,
                f_cnt=round_index,
                payload=payload,
                application_id=APPLICATION,
                dev_eui=device.dev_eui,
            )
            out.append(Message(data_ns, ttn_topic(device.device_id, APPLICATION), encode(uplink)))
    return out


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteChange:
    route_id: str
    at_ns: int
    state: str
    recommendation: str
    called: float  # time.monotonic() when route_changed was called
    done: float  # … and when it returned


@dataclass(frozen=True, slots=True)
class Announced:
    kind: str
    key: str
    at_ns: int
    handed: float  # time.monotonic() when the outbox got it: the alert is saved


class TimedOutbox:
    """The real outbox, timed: it does the work; this notes when each call began and ended."""

    def __init__(self, inner: Outbox) -> None:
        self._inner = inner
        self.route_changes: list[RouteChange] = []
        self.announced: list[Announced] = []

    def route_changed(self, decision: RouteDecision) -> None:
        called = time.monotonic()
        self._inner.route_changed(decision)
        self.route_changes.append(
            RouteChange(
                decision.route_id,
                decision.at_ns,
                str(decision.state),
                str(decision.recommendation),
                called,
                time.monotonic(),
            )
        )

    def alert_event(self, event: AlertEvent) -> None:
        handed = time.monotonic()
        self._inner.alert_event(event)
        self.announced.append(Announced(event.kind, event.alert.key, _ns(event.at), handed))


def _ns(moment: datetime) -> int:
    """Exact nanoseconds of an aware datetime (to the microsecond it holds)."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _iso_ns(text: str) -> int:
    return _ns(datetime.fromisoformat(text.replace("Z", "+00:00")))


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by thread name."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the name may hold spaces; fields 3.. follow
        seconds[thread.name] = (
            seconds.get(thread.name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
        )
    return seconds


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores), from /proc/stat:
    what other processes took during a run is this less our own CPU time."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    values = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": len(seconds),
        "p50": round(float(p50), 1),
        "p95": round(float(p95), 1),
        "p99": round(float(p99), 1),
        "max": round(float(values.max()), 1),
    }


class Gauges:
    """Samples queue depths every 0.1 s on its own thread; keeps the largest seen."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read
        self.largest: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-gauges", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for name, value in self._read().items():
                self.largest[name] = max(self.largest.get(name, 0), value)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.largest


@dataclass
class Feed:
    """The paced feed's own figures: due times and how late each message was handed over."""

    due: list[float] = field(default_factory=list)
    late_s: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


def feed(handle: Callable[[RawMessage], None], batch: Sequence[Message], rate: float) -> Feed:
    """Hand each message over at its due time (open loop: a late one goes at once)."""
    result = Feed()
    start = time.monotonic() + 0.05
    result.started = start
    for index, message in enumerate(batch):
        due = start + index / rate
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
            now = time.monotonic()
        result.due.append(due)
        result.late_s.append(max(0.0, now - due))
        handle(RawMessage(message.topic, message.body, time.time_ns()))
    result.ended = time.monotonic()
    return result


def wait_until(done: Callable[[], bool], timeout: float, *, every: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


# -- one run --------------------------------------------------------------------------------


@dataclass
class Wiring:
    """What `wherry run` builds, minus the MQTT source and the API."""

    registry: Registry
    bridge: Bridge
    alerting: Alerting | None
    outbox: TimedOutbox | None


def start(settings: Settings) -> Wiring:
    """Open the stores and start the bridge (and the engine), as `run_service` does."""
    alerting: Alerting | None = None

    def spool_alarm(level: str, detail: str) -> None:
        if alerting is not None:
            alerting.report(spool_condition(level, detail))

    registry = Registry(settings.effective_registry_url)
    store = open_store(settings.effective_store_url)
    bridge = build_bridge(settings, store, registry, on_spool_alarm=spool_alarm)
    outbox: TimedOutbox | None = None
    if settings.alerts:
        alerting = build_alerting(settings, registry, store)
        outbox = TimedOutbox(alerting.engine.outbox)
        alerting.engine.outbox = outbox
        bridge.pipeline.observe = alerting.engine.submit
    gc.freeze()  # as run_service does once the app is built
    return Wiring(registry, bridge, alerting, outbox)


def stop(wiring: Wiring) -> None:
    bridge = wiring.bridge
    bridge.intake.close()
    bridge.flush(60)
    bridge.close(60)
    if wiring.alerting is not None:
        wiring.alerting.close(30)
    bridge.store.close()
    wiring.registry.close()


def run(
    *,
    with_engine: bool,
    warm: Sequence[Message],
    batch: Sequence[Message],
    devices: Sequence[Device],
    routes: int,
    rate: float,
    directory: Path,
    store_url: str | None,
    receiver: WebhookReceiver,
) -> dict[str, Any]:
    """Start wherry's parts, feed the warm-up rounds and let them settle, then feed `batch`
    at `rate` and measure until everything it caused is written and delivered."""
    settings = Settings(
        data_dir=directory,
        store_url=store_url,
        registry_url=None,
        alerts=with_engine,
        serve_api=False,
        log_level="WARNING",
    )
    directory.mkdir(parents=True, exist_ok=True)
    setup = Registry(settings.effective_registry_url)
    setup.migrate()
    register(setup, routes, devices, receiver.url.replace("localhost", "127.0.0.1"))
    setup.close()

    received_at_start = len(receiver.received)
    wiring = start(settings)
    bridge, alerting, outbox = wiring.bridge, wiring.alerting, wiring.outbox

    def settle(fed: int) -> bool:
        """Wait until every uplink fed so far is evaluated, notified and stored."""
        done = True
        if alerting is not None and outbox is not None:
            engine, dispatcher = alerting.engine, alerting.dispatcher
            done = wait_until(lambda: engine.observed + engine.dropped >= fed, 120)
            news = (-1, -1)  # `observed` counts an observation as its evaluation begins

            def quiet() -> bool:
                nonlocal news
                before, news = news, (len(outbox.route_changes), len(outbox.announced))
                return before == news and engine.depth == 0 and dispatcher.pending() == 0

            done = wait_until(quiet, 60, every=0.2) and done
        return bridge.flush(60) and done

    # Start-up: every route's first decision (and, with the engine, the alerts a fresh
    # start raises and clears) happens here, apart from the steady state measured below.
    warm_fed = feed(bridge.intake.handle, warm, rate)
    settle(len(warm))
    start_up: dict[str, Any] = {
        "uplinks": len(warm),
        "settled_seconds_after_feed": round(time.monotonic() - warm_fed.ended, 2),
    }
    if alerting is not None and outbox is not None:
        start_up["route_changes"] = len(outbox.route_changes)
        start_up["webhooks"] = len(receiver.received) - received_at_start
        outbox.route_changes.clear()
        outbox.announced.clear()
        alerting.engine.latencies_s.clear()
    received_before = len(receiver.received)

    def depths() -> dict[str, int]:
        figures = {"points_waiting": bridge.sinks.points.depth}
        if alerting is not None:
            figures["engine_queue"] = alerting.engine.depth
            figures["notifications_pending"] = alerting.dispatcher.pending()
        return figures

    gauges = Gauges(depths)
    cpu_before, threads_before = time.process_time(), thread_cpu()
    machine_before = machine_busy_seconds()
    fed = feed(bridge.intake.handle, batch, rate)
    cpu_fed, machine_fed = time.process_time(), machine_busy_seconds()
    drained = settle(len(warm) + len(batch))
    settled = time.monotonic()
    cpu_settled, threads_after = time.process_time(), thread_cpu()
    largest = gauges.stop()

    feed_seconds = fed.ended - fed.started
    cpu_feed = cpu_fed - cpu_before
    cpu_all = cpu_settled - cpu_before
    threads = {
        name: round(seconds - threads_before.get(name, 0.0), 2)
        for name, seconds in sorted(threads_after.items())
        if seconds - threads_before.get(name, 0.0) >= 0.005
    }
    threads["(threads that ended: notification lanes, receiver)"] = round(
        cpu_all - sum(threads.values()), 2
    )
    result: dict[str, Any] = {
        "alert_engine": with_engine,
        "start_up": start_up,
        "uplinks": len(batch),
        "feed_seconds": round(feed_seconds, 2),
        "achieved_per_second": round(len(batch) / feed_seconds, 1),
        "settled_seconds_after_feed": round(settled - fed.ended, 2),
        "settled": drained,
        "feeder_lateness_ms": percentiles_ms(fed.late_s),
        "cpu_seconds_while_feeding": round(cpu_feed, 2),
        "cpu_cores_while_feeding": round(cpu_feed / feed_seconds, 3),
        "other_processes_cpu_cores_while_feeding": round(
            max(0.0, (machine_fed - machine_before) - cpu_feed) / feed_seconds, 2
        ),
        "load_average_1_min_after_feed": round(os.getloadavg()[0], 2),
        "cpu_seconds_until_settled": round(cpu_all, 2),
        "cpu_us_per_uplink": round(cpu_all / len(batch) * 1e6, 1),
        "cpu_seconds_by_thread": threads,
        "largest_queues": largest,
        "counters": bridge.counters.snapshot(),
    }
    if alerting is not None and outbox is not None:
        arrival = {message.data_ns: due for message, due in zip(batch, fed.due, strict=True)}
        result.update(
            engine_figures(alerting, outbox, arrival, receiver.received[received_before:])
        )
    stop(wiring)
    return result


def engine_figures(
    alerting: Alerting,
    outbox: TimedOutbox,
    arrival: dict[int, float],
    received: Sequence[Received],
) -> dict[str, Any]:
    """Latencies of route changes and notifications, each from its uplink's due time."""
    engine = alerting.engine
    changes = [c for c in outbox.route_changes if c.at_ns in arrival]
    transitions: dict[str, int] = {}
    for change in changes:
        name = f"{change.state}/{change.recommendation}"
        transitions[name] = transitions.get(name, 0) + 1
    notified: list[float] = []
    kinds: dict[str, int] = {}
    unmatched = 0
    for request in received:
        body = json.loads(request.body)
        at_ns = _iso_ns(body["at"])
        if at_ns not in arrival:
            unmatched += 1
            continue
        notified.append(request.at - arrival[at_ns])
        kinds[body["event"]] = kinds.get(body["event"], 0) + 1
    announced = [a for a in outbox.announced if a.at_ns in arrival]
    return {
        "dropped_observations": engine.dropped,
        "observed": engine.observed,
        "route_changes": {
            "latency_ms": percentiles_ms([c.done - arrival[c.at_ns] for c in changes]),
            "to_outbox_call_ms": percentiles_ms([c.called - arrival[c.at_ns] for c in changes]),
            "route_changed_call_ms": percentiles_ms([c.done - c.called for c in changes]),
            "not_caused_by_an_uplink": len(outbox.route_changes) - len(changes),
            "to": transitions,
        },
        "notifications": {
            "latency_ms": percentiles_ms(notified),
            "alert_saved_ms": percentiles_ms([a.handed - arrival[a.at_ns] for a in announced]),
            "kinds": kinds,
            "unmatched": unmatched,
            "dispatcher": alerting.dispatcher.counts.snapshot(),
        },
        "engine_queue_to_evaluated_ms": percentiles_ms(list(engine.latencies_s)),
    }


# -- the report -----------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
    }


def show(label: str, figures: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"

    return (
        f"{label:44} {figures['count']:>6} {ms(figures['p50']):>8} {ms(figures['p95']):>8} "
        f"{ms(figures['p99']):>8} {ms(figures['max']):>8}"
    )


def print_report(report: dict[str, Any]) -> None:
    baseline, engine = report["baseline"], report["engine"]
    print()
    print(f"{'latency from the uplink arrival, ms':44} {'count':>6} {'p50':>8} {'p95':>8} "
          f"{'p99':>8} {'max':>8}")  # fmt: skip
    print(show("route status published (saved by its writer)",
               engine["route_changes"]["latency_ms"]))  # fmt: skip
    print(show("  of which: until route_changed was called",
               engine["route_changes"]["to_outbox_call_ms"]))  # fmt: skip
    print(show("  route_changed itself (publish, queue the write)",
               engine["route_changes"]["route_changed_call_ms"]))  # fmt: skip
    print(show("alert saved (handed to the dispatcher)", engine["notifications"]["alert_saved_ms"]))
    print(show("webhook received", engine["notifications"]["latency_ms"]))
    print(show("engine: queued → evaluated (last 10k)", engine["engine_queue_to_evaluated_ms"]))
    print(show("feeder lateness (engine run)", engine["feeder_lateness_ms"]))
    print()
    print(f"{'run':24} {'uplinks':>8} {'uplinks/s':>10} {'CPU cores':>10} {'CPU µs/uplink':>14} "
          f"{'dropped':>8} {'other processes, cores':>23}")  # fmt: skip
    for name, run in (("pipeline only (baseline)", baseline), ("pipeline + alert engine", engine)):
        print(
            f"{name:24} {run['uplinks']:>8,} {run['achieved_per_second']:>10,.0f} "
            f"{run['cpu_cores_while_feeding']:>10.2f} {run['cpu_us_per_uplink']:>14,.0f} "
            f"{run.get('dropped_observations', '—')!s:>8} "
            f"{run['other_processes_cpu_cores_while_feeding']:>23.2f}"
        )
    print(f"the engine costs {report['engine_cpu_ratio']:.2f}× the baseline's CPU per uplink")
    print(f"route changes: {engine['route_changes']['to']}")
    print(f"notifications: {engine['notifications']['kinds']}; "
          f"dispatcher {engine['notifications']['dispatcher']}")  # fmt: skip
    print(f"CPU seconds by thread (engine run): {engine['cpu_seconds_by_thread']}")
    print(f"largest queues (engine run): {engine['largest_queues']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Uplink → route status and webhook latency.")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="uplinks per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the engine run")
    parser.add_argument("--routes", type=int, default=300, help="routes, 3 probes each")
    parser.add_argument(
        "--baseline-seconds", type=float, default=30.0, help="length of the pipeline-only run"
    )
    parser.add_argument(
        "--spread",
        type=int,
        help="rounds over which routes start to cool (default: as many as still freeze in the "
        "run; 1: every route at once, a burst)",
    )
    parser.add_argument("--store", choices=("sqlite", "influxdb"), default="sqlite")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    shown_args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store: Literal["sqlite", "influxdb"] = args.store

    devices = fleet(args.routes)
    measured_rounds = max(1, round(args.seconds * args.rate / len(devices)))
    rounds = WARM_ROUNDS + measured_rounds
    warm_count = WARM_ROUNDS * len(devices)
    spread = max(1, args.spread or widest_spread(rounds))
    baseline_count = min(measured_rounds * len(devices), round(args.baseline_seconds * args.rate))
    about = machine()
    print(f"Python {about['python']} on {about['cpu']} ({about['cores']} cores)")
    print(
        f"{args.routes} routes, {len(devices)} devices, {WARM_ROUNDS} + {measured_rounds} rounds "
        f"of 10 min data time, routes start cooling over {spread} rounds, {args.rate:,.0f} "
        f"uplinks/s; readings store: {store}"
    )
    if spread < 10:
        print(f"note: routes start cooling within {spread} rounds: a burst, not the steady state")
    built = time.monotonic()
    # Data time starts ahead of the wall clock, and runs 600× faster: the engine's wall-clock
    # tick (advance to now) never moves its clock, only the uplinks do.
    t0_ns = (time.time_ns() // 1_000_000_000 + 60) * 1_000_000_000
    every = messages(devices, rounds, args.routes, spread, t0_ns)
    warm, batch = every[:warm_count], every[warm_count:]
    print(f"built {len(every):,} TTN messages in {time.monotonic() - built:.1f} s")

    directory = Path(tempfile.mkdtemp(prefix="wherry-bench-alerts-"))
    receiver = WebhookReceiver()
    influxd: Any = None
    try:
        if store == "influxdb":
            from tests import servers

            influxd = servers.influxd(directory / "influxd")

        def store_url(name: str) -> str | None:
            if influxd is None:
                return None  # SQLite in the data dir, as `wherry run` does by default
            return f"influxdb://127.0.0.1:{influxd.port}/{name}"

        common: dict[str, Any] = {
            "warm": warm,
            "devices": devices,
            "routes": args.routes,
            "rate": args.rate,
            "receiver": receiver,
        }
        print(f"baseline: {baseline_count:,} uplinks, alert engine off …", flush=True)
        baseline = run(
            with_engine=False,
            batch=batch[:baseline_count],
            directory=directory / "baseline",
            store_url=store_url("baseline"),
            **common,
        )
        print(f"engine run: {len(batch):,} uplinks …", flush=True)
        engine = run(
            with_engine=True,
            batch=batch,
            directory=directory / "engine",
            store_url=store_url("engine"),
            **common,
        )
    finally:
        receiver.close()
        if influxd is not None:
            influxd.stop()
        shutil.rmtree(directory, ignore_errors=True)

    report: dict[str, Any] = {
        "benchmark": "bench/alert_latency.py",
        "command": " ".join([".venv/bin/python bench/alert_latency.py", *shown_args]),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": about,
        "target": f"p99 < {TARGET_P99_S:g} s from arrival at {TARGET_RATE:,.0f} uplinks/s",
        "setup": {
            "routes": args.routes,
            "devices": len(devices),
            "road_probes": args.routes * PROBES_PER_ROUTE,
            "weather_stations": len(devices) - args.routes * PROBES_PER_ROUTE,
            "warm_up_rounds": WARM_ROUNDS,
            "measured_rounds": measured_rounds,
            "routes_start_cooling_over_rounds": spread,
            "data_minutes_per_round": INTERVAL_NS // 60_000_000_000,
            "rate_per_second": args.rate,
            "readings_store": store,
            "registry": "sqlite",
            "webhook_receiver": "ThreadingHTTPServer in this process (HTTP/1.0, 200 at once)",
        },
        "baseline": baseline,
        "engine": engine,
        "engine_cpu_ratio": round(engine["cpu_us_per_uplink"] / baseline["cpu_us_per_uplink"], 2),
    }
    p99_changes = engine["route_changes"]["latency_ms"]["p99"]
    p99_hooks = engine["notifications"]["latency_ms"]["p99"]
    report["p99_under_target"] = bool(
        p99_changes is not None
        and p99_hooks is not None
        and max(p99_changes, p99_hooks) < TARGET_P99_S * 1000
        and engine["dropped_observations"] == 0
        and engine["achieved_per_second"] >= 0.98 * args.rate
    )
    print_report(report)
    verdict = "yes" if report["p99_under_target"] else "NO"
    print(
        f"p99 under {TARGET_P99_S:g} s, nothing dropped, rate kept at {args.rate:,.0f} uplinks/s "
        f"(the target is at {TARGET_RATE:,.0f}): {verdict}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Readings API latency under 50 concurrent clients, over a real InfluxDB with 4.32 M points.

    .venv/bin/python bench/api_readings.py [--devices 1000] [--days 30] [--clients 50]
                                           [--seconds 20] [--workers 1]

What it does, all on this machine:

1. starts its own `influxd` (tests/servers.py) and an SQLite registry in a temporary
   directory, registers `--devices` devices (about half public; road and air sensors);
2. loads `--days` days of 10-minute readings per device through `InfluxStore.write`
   (1,000 × 30 days = 4.32 M points, 50,000 points per `write()`, two writer threads)
   and reports the load rate;
3. starts the real API (`api.app.create_app`) with uvicorn on a free port over that
   InfluxDB, twice: as shipped, and with the list cache off (`ttl` 0), to show what a
   request costs when it does all its work;
4. runs each scenario with `--clients` concurrent clients (asyncio, one keep-alive
   HTTP/1.1 connection each, requests back to back; `Connection` says why not httpx)
   for `--seconds` after a warm-up:

   - "latest for all public devices": GET /api/v1/open/readings/latest (anonymous);
   - "one device, one day, 15-minute means": GET /api/v1/devices/{id}/readings with
     window=15m for a random device and yesterday (UTC), with a reader key;
   - the same run's baselines: GET /healthz through the same server (what any request
     costs), and the raw InfluxDB /query for the same data (the store's own share);
   - the same run's "before": the means through an API whose store sends its queries
     through httpx, as it did before storage/influx_queries.py (back to back only).

   Each scenario also records the CPU time the API process, influxd and the load generator
   used per request (from /proc), a figure other jobs on the machine disturb far less than
   latency, and the run records the load average before and after.

Prints a table and writes bench/results/api_readings.json. Nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # this file is bench/api_readings.py: import the project, not bench/

import httpx  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from storage import InfluxStore, Point  # noqa: E402
from storage.registry import DeviceRow, NewApiKey, Registry, RouteRow  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "api_readings.json"
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
INTERVAL = 10 * MINUTE
DATABASE = "bench"
ROUTES = [f"route-{n:02d}" for n in range(1, 11)]
TARGETS_MS = {"open_latest": 150.0, "device_means": 300.0}
BATCH_POINTS = 50_000
WRITERS = 2


# -- the fleet ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sensor:
    device_id: str
    domain: str  # road | air
    public: bool
    tags: dict[str, str]
    offset_ms: int  # devices do not all report at the same instant


def fleet(count: int) -> list[Sensor]:
    sensors = []
    for n in range(count):
        road = n % 5 < 3  # three road sensors in five
        device_id = f"{'rst' if road else 'aq'}-{n:04d}"
        tags = {"device_id": device_id, "application_id": "county", "domain": "road"}
        if road:
            tags["route"] = ROUTES[n % len(ROUTES)]
        else:
            tags = {**tags, "domain": "air", "site": f"school-{n % 40:02d}"}
        sensors.append(
            Sensor(device_id, "road" if road else "air", n % 2 == 0, tags, (n * 7919) % 600)
        )
    return sensors


def register(registry: Registry, sensors: Sequence[Sensor]) -> None:
    registry.apply_route_import(
        [
            RouteRow(route, f"Route {route}", 12.5, 1 + n % 3, None)
            for n, route in enumerate(ROUTES)
        ],
        actor="bench",
    )
    registry.apply_device_import(
        [
            DeviceRow(
                device_id=sensor.device_id,
                dev_eui=f"{n + 1:016x}",
                name=f"{sensor.domain} sensor {n}",
                decoder="decentlab-dl-ds18" if sensor.domain == "road" else "cayenne-lpp",
                domain=sensor.domain,  # type: ignore[arg-type]
                route_id=sensor.tags.get("route"),
                latitude=52.9 + n / 10_000,
                longitude=-1.2 + n / 10_000,
                public=sensor.public,
                owner="County council",
                field_map={},
            )
            for n, sensor in enumerate(sensors)
        ],
        actor="bench",
    )


def points_at(sensors: Sequence[Sensor], time_ns: int, step: int) -> Iterator[Point]:
    """One uplink per sensor around `time_ns`: plausible values that move with the day."""
    hour = (time_ns // (3600 * SECOND)) % 24
    daily = math.sin((hour - 9) / 24 * 2 * math.pi)
    for n, sensor in enumerate(sensors):
        air = round(3.0 + 4.0 * daily + (n % 7) * 0.3 + (step % 5) * 0.05, 2)
        fields: dict[str, float] = {"air_temperature": air, "battery_voltage": 3.6}
        if sensor.domain == "road":
            fields["road_surface_temperature"] = round(air - 1.5, 2)
        else:
            fields["relative_humidity"] = round(80.0 - 10.0 * daily, 1)
            fields["pm2_5"] = round(6.0 + (step * 13 + n) % 40 / 4, 2)
        yield Point("reading", sensor.tags, fields, time_ns + sensor.offset_ms * 1_000_000)


def load(store: InfluxStore, sensors: Sequence[Sensor], end_ns: int, days: int) -> dict[str, Any]:
    """Write every sensor's history, oldest first, in big batches from two threads."""
    steps = days * DAY // INTERVAL
    started = time.perf_counter()
    written = 0
    pending: list[Future[None]] = []
    batch: list[Point] = []
    with ThreadPoolExecutor(max_workers=WRITERS) as writers:
        for step in range(steps):
            batch.extend(points_at(sensors, end_ns - (steps - step) * INTERVAL, step))
            if len(batch) >= BATCH_POINTS or step == steps - 1:
                while len(pending) >= 2 * WRITERS:
                    pending.pop(0).result()
                pending.append(writers.submit(store.write, batch))
                if (written + len(batch)) // 500_000 > written // 500_000:
                    print(f"  {written + len(batch):,} points", flush=True)
                written += len(batch)
                batch = []
        for future in pending:
            future.result()
    seconds = time.perf_counter() - started
    return {"points": written, "seconds": round(seconds, 1), "points_per_second": written / seconds}


# -- the API server -------------------------------------------------------------------------


def app_from_environment() -> Any:
    """The real app over InfluxDB, for uvicorn (`--factory`) in the API process(es)."""
    from api.app import create_app
    from api.readings_cache import ReadingsCache
    from api.services import RateLimit, Services
    from storage import open_store

    registry = Registry(os.environ["WHERRY_BENCH_REGISTRY_URL"])
    services = Services(
        registry=registry,
        store=open_store(os.environ["WHERRY_BENCH_STORE_URL"]),
        rate_limit=RateLimit(per_minute=1e12, burst=10**12),  # measure serving, not the limit
    )
    app = create_app(services)
    ttl = os.environ.get("WHERRY_BENCH_CACHE_TTL")
    if ttl:
        app.state.readings_cache = ReadingsCache(registry, ttl=float(ttl))
    if os.environ.get("WHERRY_BENCH_HTTPX_QUERIES") and isinstance(services.store, InfluxStore):
        # The same-run comparison: queries through httpx, as before storage/influx_queries.py.
        services.store._queries = None
    if os.environ.get("WHERRY_BENCH_FREEZE_GC"):
        # Everything built so far lives as long as the process: keep it out of the
        # collector's full passes (100 ms each on this machine, a stall for every request).
        gc.collect()
        gc.freeze()
    return app


class ApiProcess:
    """`uvicorn api_readings:app_from_environment --factory` on a free port."""

    def __init__(
        self,
        directory: Path,
        registry_url: str,
        store_url: str,
        *,
        cache_ttl: float | None = None,
        workers: int = 1,
        freeze_gc: bool = False,
        httpx_queries: bool = False,
    ) -> None:
        from tests.servers import free_port, wait_for_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "uvicorn", "api_readings:app_from_environment", "--factory",
            "--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(workers), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        environment = {
            **os.environ,
            "WHERRY_BENCH_REGISTRY_URL": registry_url,
            "WHERRY_BENCH_STORE_URL": store_url,
            "WHERRY_BENCH_CACHE_TTL": "" if cache_ttl is None else str(cache_ttl),
            "WHERRY_BENCH_FREEZE_GC": "1" if freeze_gc else "",
            "WHERRY_BENCH_HTTPX_QUERIES": "1" if httpx_queries else "",
        }
        self._log = (directory / f"api-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT
        )
        wait_for_port(self.port, timeout=60, process=self.process)
        deadline = time.monotonic() + 60
        while httpx.get(f"{self.url}/healthz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the API did not become healthy"
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


# -- load generation ------------------------------------------------------------------------


def wire(request: httpx.Request) -> bytes:
    """An HTTP/1.1 request as bytes, keep-alive: httpx builds it, the raw client sends it."""
    head = [f"{request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1"]
    head += [f"{name.decode()}: {value.decode()}" for name, value in request.headers.raw]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.read()


class Connection:
    """The least an HTTP/1.1 keep-alive client needs, on asyncio streams.

    httpx's AsyncClient spends about 4 ms of CPU per request with 50 connections open on
    this machine (its pool), which would make the load generator the bottleneck and
    measure the client, not the server: 87 requests/s against a bare FastAPI /healthz,
    where this client reaches ~1,000 with 1/6 of the CPU.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=2**24)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    return status, b"".join(chunks)
                chunks.append(chunk[:-2])
        return status, await self.reader.readexactly(int(headers.get("content-length", "0")))

    def close(self) -> None:
        self.writer.close()


@dataclass
class Scenario:
    name: str
    label: str
    address: tuple[str, int]
    request: Callable[[random.Random], bytes]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per process, measured part

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        if not ordered:
            return {"label": self.label, "requests": 0, "errors": self.errors}

        def pick(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

        return {
            "label": self.label,
            "requests": len(ordered),
            "errors": self.errors,
            "error_statuses": self.error_statuses,
            "per_second": round(len(ordered) / self.seconds, 1),
            "p50_ms": pick(0.50),
            "p90_ms": pick(0.90),
            "p99_ms": pick(0.99),
            "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
            "cpu_ms_per_request": {
                name: round(seconds * 1000 / len(ordered), 2)
                for name, seconds in self.cpu_seconds.items()
            },
        }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU time used so far by process `pid` and, with `children`, by its
    children (uvicorn's workers), from /proc; 0 where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        kids = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return own + (sum(cpu_seconds(kid) for kid in kids) if children else 0.0)


async def run_scenario(
    scenario: Scenario,
    clients: int,
    seconds: float,
    warmup: float,
    rate: float | None = None,
    processes: dict[str, int] | None = None,
) -> None:
    """`clients` connections, each sending requests back to back, or `rate` per second.

    Paced clients keep a fixed timetable (a random phase each, then every 1/rate s) and a
    request's latency counts from when it was due, not when it could be sent: a server
    falling behind shows as latency, not as fewer requests (no coordinated omission).
    The CPU time each of `processes` (name → pid) uses while measuring is kept too.
    """
    connections = [await Connection.open(*scenario.address) for _ in range(clients)]
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + seconds
    # The load generator is this process alone: influxd and the APIs are its children.
    watched = {"load generator": os.getpid(), **(processes or {})}

    def cpu_now() -> dict[str, float]:
        return {
            name: cpu_seconds(pid, children=name != "load generator")
            for name, pid in watched.items()
        }

    cpu_from: dict[str, float] = {}

    async def note_cpu_at_start() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_from.update(cpu_now())

    async def one_client(connection: Connection, seed: int) -> None:
        chooser = random.Random(seed)
        interval = 1.0 / rate if rate else 0.0
        due = started + chooser.random() * interval
        while True:
            now = time.perf_counter()
            if rate:
                if due > now:
                    await asyncio.sleep(due - now)
            else:
                due = now
            if due >= stop_at:
                return
            status, _ = await connection.exchange(scenario.request(chooser))
            done = time.perf_counter()
            if due >= measure_from:
                if status != 200:
                    scenario.errors += 1
                    statuses = scenario.error_statuses
                    statuses[status] = statuses.get(status, 0) + 1
                else:
                    scenario.latencies.append(done - due)
            due += interval

    try:
        await asyncio.gather(
            note_cpu_at_start(), *(one_client(c, seed) for seed, c in enumerate(connections))
        )
    finally:
        for connection in connections:
            connection.close()
    scenario.seconds = seconds
    cpu_to = cpu_now()
    scenario.cpu_seconds = {name: cpu_to[name] - cpu_from[name] for name in cpu_from}


# -- the run --------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = cpu_model()
    influxd = subprocess.run(["influxd", "version"], capture_output=True, text=True, check=False)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(len(os.sched_getaffinity(0))),
        "influxdb": influxd.stdout.strip(),
    }


def influx_query(base: str, statement: str) -> httpx.Request:
    return httpx.Request(
        "POST", f"{base}/query", params={"db": DATABASE, "epoch": "ns"}, data={"q": statement}
    )


@dataclass(frozen=True)
class Prepared:
    """A loaded InfluxDB and registry: what every scenario runs against."""

    token: str
    end_ns: int
    load: dict[str, Any]


def prepare(directory: Path, influx_base: str, registry_url: str, args: Any) -> Prepared:
    """Register the fleet and load its history, or reuse a `--workdir` that has both."""
    from api.keys import issue_key

    marker = directory / "prepared.json"
    if marker.exists():
        known = json.loads(marker.read_text())
        if (known["devices"], known["days"]) == (args.devices, args.days):
            print(f"reusing the registry and InfluxDB data in {directory}")
            return Prepared(known["token"], known["end_ns"], known["load"])
        raise SystemExit(f"{directory} holds another fleet; use an empty --workdir")
    sensors = fleet(args.devices)
    registry = Registry(registry_url)
    registry.migrate()
    register(registry, sensors)
    issued = issue_key()
    registry.create_api_key(
        NewApiKey(
            key_id=issued.key_id,
            label="bench",
            role="reader",
            secret_hash=issued.secret_hash,
            expires_at=None,
        ),
        actor="bench",
    )
    registry.close()
    now_ns = time.time_ns()
    end_ns = now_ns - now_ns % INTERVAL
    print(f"loading {args.devices:,} devices × {args.days} days of 10-minute readings …")
    store = InfluxStore(influx_base, DATABASE, gzip=False, timeout=120, max_batch_points=10_000)
    loaded = load(store, sensors, end_ns, args.days)
    store.close()
    print(
        f"  {loaded['points']:,} points in {loaded['seconds']} s: "
        f"{loaded['points_per_second']:,.0f} points/s"
    )
    loaded["points_per_second"] = round(loaded["points_per_second"])
    marker.write_text(
        json.dumps(
            {"devices": args.devices, "days": args.days, "token": issued.token,
             "end_ns": end_ns, "load": loaded}
        )
    )  # fmt: skip
    return Prepared(issued.token, end_ns, loaded)


def utc_text(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured per scenario")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep InfluxDB data and the registry here, and reuse them on the next run "
        "(default: a temporary directory, deleted at the end)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--freeze-gc",
        action="store_true",
        help="gc.freeze() in the API process after building the app (not what ships yet)",
    )
    parser.add_argument(
        "--rate", type=float, default=2.0, help="requests/s per paced client (the anonymous limit)"
    )
    args = parser.parse_args(argv)
    from tests import servers

    def stop(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)  # unwind, so `finally` stops influxd and the API

    signal.signal(signal.SIGTERM, stop)
    directory = args.workdir or Path(tempfile.mkdtemp(prefix="wherry-bench-api-"))
    directory.mkdir(parents=True, exist_ok=True)
    influxd = servers.influxd(directory / "influxd")
    apis: list[ApiProcess] = []
    try:
        influx_base = f"http://127.0.0.1:{influxd.port}"
        store_url = f"influxdb://127.0.0.1:{influxd.port}/{DATABASE}?gzip=false&timeout=120"
        registry_url = f"sqlite:///{directory / 'registry.db'}"
        prepared = prepare(directory, influx_base, registry_url, args)
        shipped = ApiProcess(
            directory, registry_url, store_url, workers=args.workers, freeze_gc=args.freeze_gc
        )
        apis.append(shipped)
        uncached = ApiProcess(directory, registry_url, store_url, cache_ttl=0.0)
        apis.append(uncached)
        before = ApiProcess(
            directory,
            registry_url,
            store_url,
            workers=args.workers,
            freeze_gc=args.freeze_gc,
            httpx_queries=True,
        )
        apis.append(before)
        assert influxd.process is not None
        report = measure(
            args,
            prepared,
            Servers(influxd.port, influxd.process.pid, shipped, uncached, before),
        )
        report["command"] = " ".join(
            [
                ".venv/bin/python bench/api_readings.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print_table(report)
        return 0
    finally:
        for api in apis:
            api.stop()
        influxd.stop()
        if args.workdir is None:
            shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class Servers:
    """What the scenarios run against: InfluxDB and the API processes."""

    influx_port: int
    influx_pid: int
    shipped: ApiProcess
    uncached: ApiProcess  # the list cache off
    httpx_queries: ApiProcess  # queries through httpx, as before storage/influx_queries.py


def measure(args: Any, prepared: Prepared, against: Servers) -> dict[str, Any]:
    influx_port, shipped, uncached = against.influx_port, against.shipped, against.uncached
    load_before = os.getloadavg()
    sensors = fleet(args.devices)
    influx_base = f"http://127.0.0.1:{influx_port}"
    midnight = prepared.end_ns - prepared.end_ns % DAY
    day_start, day_end = midnight - DAY, midnight
    yesterday = {"start": utc_text(day_start), "end": utc_text(day_end)}
    key_header = {"Authorization": f"Bearer {prepared.token}"}
    ids = [sensor.device_id for sensor in sensors]
    latest_statement = 'SELECT * FROM "reading" GROUP BY * ORDER BY time DESC LIMIT 1'

    # Every request is built once, before timing: building one with httpx takes ~0.1 ms of
    # the CPU the servers share with the load generator.
    def means_from(api: ApiProcess) -> Callable[[random.Random], bytes]:
        built = {
            device_id: wire(
                httpx.Request(
                    "GET",
                    f"{api.url}/api/v1/devices/{device_id}/readings",
                    params={"quantity": "air_temperature", "window": "15m", **yesterday},
                    headers=key_header,
                )
            )
            for device_id in ids
        }
        return lambda chooser: built[chooser.choice(ids)]

    influx_built = {
        device_id: wire(
            influx_query(
                influx_base,
                'SELECT mean("air_temperature"::field) FROM "reading" WHERE '
                f"\"device_id\"::tag = '{device_id}' AND time >= {day_start} "
                f"AND time < {day_end} GROUP BY time({15 * MINUTE}ns) fill(none)",
            )
        )
        for device_id in ids
    }

    def influx_means(chooser: random.Random) -> bytes:
        return influx_built[chooser.choice(ids)]

    # What each answer holds, checked once before timing anything.
    public = sum(1 for sensor in sensors if sensor.public)
    with httpx.Client(timeout=120) as client:
        latest = client.get(f"{shipped.url}/api/v1/open/readings/latest")
        assert len(latest.json()["devices"]) == public, (len(latest.json()["devices"]), public)
        first = httpx.Request(
            "GET",
            f"{shipped.url}/api/v1/devices/{ids[0]}/readings",
            params={"quantity": "air_temperature", "window": "15m", **yesterday},
            headers=key_header,
        )
        means = client.send(first).json()
        assert len(means["readings"]) == 96, len(means["readings"])

    api = ("127.0.0.1", shipped.port)
    influx = ("127.0.0.1", influx_port)
    healthz = wire(httpx.Request("GET", f"{shipped.url}/healthz"))
    raw_latest = wire(influx_query(influx_base, latest_statement))
    open_latest = wire(httpx.Request("GET", f"{shipped.url}/api/v1/open/readings/latest"))
    open_uncached = wire(httpx.Request("GET", f"{uncached.url}/api/v1/open/readings/latest"))
    clients, rate = args.clients, args.rate
    # Back to back, latency is clients ÷ throughput: it measures capacity. Paced at the
    # anonymous rate limit (2 requests/s per client), it measures what 50 busy clients
    # see. Without the cache, one "latest" costs InfluxDB a query over every series:
    # measured one request at a time (50 at once would only queue), as the store's share.
    plan: list[tuple[str, str, tuple[str, int], Callable[[random.Random], bytes]]] = [
        ("healthz", "GET /healthz (same server: the floor)", api, lambda _: healthz),
        ("open_latest", "latest for all public devices", api, lambda _: open_latest),
        ("influx_means", "InfluxDB alone: one device, one day, 15-min means", influx,
         influx_means),
        ("device_means", "one device, one day, 15-minute means", api, means_from(shipped)),
    ]  # fmt: skip
    runs: list[tuple[int, float | None, Scenario]] = []
    for suffix, pace in (("", None), ("_paced", rate)):
        for name, label, address, request in plan:
            runs.append((clients, pace, Scenario(name + suffix, label, address, request)))
        if not pace:  # right after the shipped path, so both see the machine alike
            before = against.httpx_queries
            runs.append((clients, None, Scenario(
                "device_means_httpx", "the same means, queries through httpx (before)",
                ("127.0.0.1", before.port), means_from(before))))  # fmt: skip
    runs += [
        (1, None, Scenario("influx_latest", "InfluxDB alone: newest point of every series",
                           influx, lambda _: raw_latest)),
        (1, None, Scenario("open_latest_uncached", "latest for all public devices, cache off",
                           ("127.0.0.1", uncached.port), lambda _: open_uncached)),
    ]  # fmt: skip
    api_pids = {api.port: api.process.pid for api in (shipped, uncached, against.httpx_queries)}
    results: dict[str, dict[str, Any]] = {}
    for count, pace, scenario in runs:
        mode = f"{pace:g}/s each" if pace else "back to back"
        print(f"running {scenario.name}: {count} client(s), {mode} …", flush=True)
        processes = {"influxd": against.influx_pid}
        if scenario.address[1] in api_pids:
            processes["api"] = api_pids[scenario.address[1]]
        asyncio.run(run_scenario(scenario, count, args.seconds, args.warmup, pace, processes))
        results[scenario.name] = {"clients": count, "mode": mode, **scenario.summary()}
        print(f"  {results[scenario.name]}", flush=True)

    def ratio(name: str, baseline: str, figure: str = "p99_ms") -> float | None:
        value, base = results[name].get(figure), results[baseline].get(figure)
        return round(value / base, 2) if value and base else None

    return {
        "benchmark": "bench/api_readings.py",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "api_workers": args.workers,
        "gc_frozen": args.freeze_gc,
        "devices": args.devices,
        "public_devices": public,
        "days": args.days,
        "points": prepared.load["points"],
        "load": prepared.load,
        "latest_body_bytes": len(latest.content),
        "seconds_per_scenario": args.seconds,
        "targets_p99_ms": TARGETS_MS,
        "targets_met": {
            name + suffix: bool(results[name + suffix].get("p99_ms"))
            and results[name + suffix]["p99_ms"] <= target
            for name, target in TARGETS_MS.items()
            for suffix in ("_paced", "")
        },
        "results": results,
        "ratios": {
            **{
                f"{name}{suffix}_p99_vs_{base}{suffix}_p99": ratio(name + suffix, base + suffix)
                for suffix in ("_paced", "")
                for name, base in (
                    ("open_latest", "healthz"),
                    ("device_means", "healthz"),
                    ("device_means", "influx_means"),
                )
            },
            "open_latest_uncached_p50_vs_influx_latest_p50": ratio(
                "open_latest_uncached", "influx_latest", "p50_ms"
            ),
            **{
                f"device_means_{figure}_vs_device_means_httpx": ratio(
                    "device_means", "device_means_httpx", figure
                )
                for figure in ("per_second", "p50_ms", "p99_ms")
            },
        },
        # 1-, 5- and 15-minute load averages: what else the machine was doing.
        "load_average_before": [round(load, 2) for load in load_before],
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
    }


def print_table(report: dict[str, Any]) -> None:
    print()
    print(
        f"{'scenario':<50} {'clients':>7} {'mode':>12} {'req/s':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'err':>4}   CPU ms/request: API, influxd, load generator"
    )
    for result in report["results"].values():
        cpu = result.get("cpu_ms_per_request", {})
        print(
            f"{result['label']:<50} {result['clients']:>7} {result['mode']:>12} "
            f"{result.get('per_second', '-'):>7} {result.get('p50_ms', '-'):>7} "
            f"{result.get('p99_ms', '-'):>7} {result['errors']:>4}   "
            + ", ".join(str(cpu.get(name, "-")) for name in ("api", "influxd", "load generator"))
        )
    print()
    print(f"load average before {report['load_average_before']}, "
          f"after {report['load_average_after']}")  # fmt: skip
    for name, met in report["targets_met"].items():
        target = report["targets_p99_ms"][name.removesuffix("_paced")]
        print(f"target {name}: p99 ≤ {target:.0f} ms: {'met' if met else 'MISSED'}")
    for name, value in report["ratios"].items():
        print(f"ratio {name}: {value}")


if __name__ == "__main__":
    sys.exit(main())

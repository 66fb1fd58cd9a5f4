"""End-to-end ingest: `wherry run` against the limits it sits between and against Node-RED.

    .venv/bin/python bench/ingest.py [--uplinks 200000] [--devices 1000]
                                     [--latency-rate 2000] [--latency-seconds 60]
                                     [--workers 1] [--skip-node-red] [--skip-limits]
                                     [--node-red-rates 1000,2000,4000,8000]
                                     [--node-red-paced-seconds 15]
    .venv/bin/python bench/ingest.py --soak [--soak-minutes 10] [--rate 2000]

What it does, all on this machine (issue #7; the method is in docs/performance.md):

1. starts its own Mosquitto (`max_queued_messages 0`: bursts are queued, not dropped) and
   InfluxDB 1.x (tests/servers.py) on free ports in a temporary directory, and registers
   `--devices` devices in an SQLite registry (bench/e2e/fleet.py: DL-DS18 road probes on 20
   routes, Cayenne LPP school air sensors, DL-CTD10 river probes);
2. the limits, each alone: the broker's delivery of the burst to `mosquitto_sub` and to a
   paho-mqtt subscriber that parses each message with orjson (QoS 0), and InfluxDB's ingest
   of wherry's own line protocol for the burst in 5,000-line batches from one writer;
3. `wherry run` (production defaults, QoS 1, alert engine on) fed `--uplinks` ~1.4 KB TTN
   uplinks by a separate raw-socket MQTT publisher as fast as the broker takes them:
   uplinks/s from the first publish to the last point visible in InfluxDB, publish→stored
   latency p50/p99, loss, CPU seconds and RSS (peak, steady) of every process;
4. the same at a steady `--latency-rate` for `--latency-seconds` (p99 target < 2 s);
5. with `--workers N` (N > 1), the burst again into N bridge processes on a shared
   subscription, and its ratio to the single process;
6. Node-RED (bench/e2e/nodered.py; skipped with `--skip-node-red`): the batched flow and
   the per-message flow on the same burst, then the per-message flow paced at
   `--node-red-rates` for `--node-red-paced-seconds` each, up to the first rate it does not
   keep up with (a loss, or stored end to end at under 90 % of the rate).

Each system writes to its own database. Prints one table (systems, limits, ratios, the
issue's targets) and writes bench/results/ingest.json. `--soak` instead runs wherry alone
at `--rate` for `--soak-minutes` (RSS every 10 s, latency, loss; memory flat within 5 %
from the first minute after a 1-minute warm-up to the last) into ingest-soak.json.
Nothing is left running afterwards, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # this file is bench/ingest.py: import the project, not bench/

from bench.e2e import limits, phase, report  # noqa: E402
from bench.e2e.bridge import register, wherry_bridge  # noqa: E402
from bench.e2e.fleet import ROUND_NS, Uplinks, devices  # noqa: E402
from bench.e2e.lifecycle import interrupt_on_signals  # noqa: E402
from bench.e2e.publisher import Feed  # noqa: E402
from bench.e2e.resources import ResourceSampler, flatness  # noqa: E402
from tests import servers  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ingest.json"
SOAK_RESULTS = ROOT / "bench" / "results" / "ingest-soak.json"
DEPLOYED_BROKER = ROOT / "deploy" / "mosquitto" / "wherry.conf"
NODE_RED_CACHE = Path.home() / ".cache" / "wherry-bench" / "node-red"
KEPT_UP = 0.9  # a paced run kept up when stored at ≥ 90 % of its rate, end to end
Progress = Callable[[str], None]


def deployed_max_inflight() -> int:
    """`max_inflight_messages` of deploy/mosquitto/wherry.conf: the broker as we ship it."""
    found = re.search(r"^max_inflight_messages\s+(\d+)", DEPLOYED_BROKER.read_text(), re.M)
    return int(found.group(1)) if found else 20


def progress(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def base_ns(rounds: int) -> int:
    """Data time of round 0, so the last round of the longest feed ends about now."""
    now_ns = time.time_ns() // ROUND_NS * ROUND_NS
    return now_ns - (rounds + 1) * ROUND_NS


class Harness:
    """The servers, registry and sampler every phase of one run shares."""

    def __init__(self, args: argparse.Namespace, workdir: Path, stack: ExitStack) -> None:
        self.args = args
        self.workdir = workdir
        progress(f"starting Mosquitto and InfluxDB in {workdir}")
        self.broker = servers.mosquitto(
            workdir / "mosquitto", max_inflight_messages=args.broker_max_inflight
        )
        stack.callback(self.broker.stop)
        self.influx = servers.influxd(workdir / "influxd")
        stack.callback(self.influx.stop)
        self.sampler = stack.enter_context(ResourceSampler())
        for server in (self.broker, self.influx):
            assert server.process is not None
            self.sampler.watch(server.name, [server.process.pid])
        self.fleet = devices(args.devices)
        progress(f"registering {len(self.fleet):,} devices")
        self.registry_url = register(self.fleet, workdir / "registry")
        longest = max(
            args.uplinks,
            args.latency_rate * args.latency_seconds,
            args.rate * args.soak_minutes * 60,
            *(rate * args.node_red_paced_seconds for rate in args.node_red_rates),
        )
        self.base_ns = base_ns(int(longest) // args.devices + 2)

    def feed(self, application: str, count: int, rate: float = 0.0) -> Feed:
        return Feed(application, count, self.args.devices, self.base_ns, rate)

    def target(self, database: str, counted: tuple[str, str] = ("uplink", "f_cnt")) -> phase.Target:
        return phase.Target(self.influx.port, database, counted[0], counted[1])

    def wherry(self, label: str, name: str, feed: Feed, workers: int = 1) -> phase.Outcome:
        progress(f"{label}: starting wherry run ({workers} process{'es' if workers > 1 else ''})")
        with wherry_bridge(
            self.workdir / "wherry",
            registry_url=self.registry_url,
            broker_port=self.broker.port,
            influx_port=self.influx.port,
            database=name,
            application=name.replace("_", "-"),
            workers=workers,
            alert_evaluation=self.args.alert_evaluation,
        ) as bridge:
            self.sampler.watch("wherry", bridge.pids)
            progress(f"{label}: publishing {feed.count:,} uplinks")
            outcome = phase.run(
                label,
                broker_port=self.broker.port,
                target=self.target(name),
                feed=feed,
                workdir=self.workdir,
                sampler=self.sampler,
                progress=progress,
            )
        outcome.figures["wherry_counters"] = bridge.counters
        outcome.figures["workers"] = workers
        self.say(outcome.figures)
        return outcome

    @staticmethod
    def say(figures: dict[str, Any]) -> None:
        latency = figures["latency"]
        progress(
            f"{figures['label']}: {figures['stored']:,}/{figures['uplinks']:,} stored, "
            f"{figures['per_second'] or '—'}/s, p50 {latency['p50_s']} s, "
            f"p99 {latency['p99_s']} s"
        )

    # -- phases -----------------------------------------------------------------------------

    def limits(self) -> dict[str, Any]:
        count = self.args.uplinks
        progress(f"limit: broker → mosquitto_sub, {count:,} uplinks")
        sub = limits.mosquitto_sub_rate(
            self.broker.port, self.feed("limit-sub", count), self.workdir
        )
        progress(f"limit: broker → mosquitto_sub: {sub['per_second']}/s")
        progress(f"limit: broker alone → mosquitto_sub draining {count:,} queued uplinks")
        drain = limits.mosquitto_sub_drain_rate(
            self.broker.port, self.feed("limit-drain", count), self.workdir
        )
        progress(f"limit: broker alone → mosquitto_sub: {drain['per_second']}/s")
        progress(f"limit: broker → paho-mqtt + orjson, {count:,} uplinks")
        paho = limits.paho_parse_rate(
            self.broker.port, self.feed("limit-paho", count), self.workdir
        )
        progress(f"limit: broker → paho + orjson: {paho['per_second']}/s")
        progress(f"limit: InfluxDB, building wherry's line protocol for {count:,} uplinks")
        uplinks = Uplinks(self.args.devices, "limit-influx", self.base_ns)
        lines = limits.wherry_lines(uplinks, count, progress)
        progress(f"limit: InfluxDB, posting {len(lines):,} lines")
        influx = limits.influx_ingest_rate(self.influx.port, "limit_influx", lines, count)
        progress(f"limit: InfluxDB: {influx['points_per_second']:,} points/s")
        return {
            "broker_mosquitto_sub": sub,
            "broker_mosquitto_sub_drain": drain,
            "broker_paho_parse": paho,
            "influxdb": influx,
        }

    def node_red(self) -> dict[str, Any]:
        # imported here: the harness runs without Node-RED (or before its module exists)
        nodered: Any = importlib.import_module("bench.e2e.nodered")
        installed = nodered.install(self.args.node_red_cache, progress)
        counted: tuple[str, str] = nodered.COUNTED
        out: dict[str, Any] = {}

        def one(label: str, name: str, feed: Feed, batched: bool) -> dict[str, Any]:
            progress(f"{label}: starting Node-RED")
            with nodered.node_red(
                self.workdir / "node-red" / name,
                installed=installed,
                broker_port=self.broker.port,
                influx_port=self.influx.port,
                database=name,
                topic=f"v3/{feed.application}@ttn/devices/+/up",
                batched=batched,
            ) as pid:
                self.sampler.watch("node-red", [pid])
                progress(f"{label}: publishing {feed.count:,} uplinks")
                outcome = phase.run(
                    label,
                    broker_port=self.broker.port,
                    target=self.target(name, counted),
                    feed=feed,
                    workdir=self.workdir,
                    sampler=self.sampler,
                    progress=progress,
                    quiet_s=10.0,
                )
            self.say(outcome.figures)
            return outcome.figures

        count = self.args.uplinks
        out["batched"] = one(
            "Node-RED batched", "nodered_batched", self.feed("nodered-batched", count), True
        )
        out["per_message"] = one(
            "Node-RED per message",
            "nodered_per_message",
            self.feed("nodered-per-message", count),
            False,
        )
        paced, loss_free = [], None
        for rate in self.args.node_red_rates:
            name = f"nodered_paced_{rate}"
            feed = self.feed(name.replace("_", "-"), rate * self.args.node_red_paced_seconds, rate)
            figures = one(f"Node-RED per message at {rate}/s", name, feed, False)
            # kept up: nothing lost, and stored about as fast as fed (not queued in the
            # broker to be drained long after; the "kept up without loss")
            figures["kept_up"] = bool(
                figures["lost"] == 0 and (figures["per_second"] or 0) >= KEPT_UP * rate
            )
            paced.append(figures)
            if not figures["kept_up"]:
                break
            loss_free = rate
        out["per_message_paced"] = paced
        out["per_message_loss_free_per_second"] = loss_free
        return out

    def soak(self) -> dict[str, Any]:
        rate, minutes = self.args.rate, self.args.soak_minutes
        feed = self.feed("wherry-soak", int(rate * minutes * 60), rate)
        outcome = self.wherry(f"soak at {rate:,.0f}/s for {minutes:g} min", "wherry_soak", feed)
        every_second = self.sampler.rss_timeline("wherry", outcome.first_publish, 1.0)
        published_s = outcome.publish_done - outcome.first_publish
        figures = outcome.figures
        figures["rss_every_10_s"] = self.sampler.rss_timeline("wherry", outcome.first_publish, 10)
        figures["rss_flatness"] = flatness(every_second, warmup_s=60.0, last_s=published_s)
        return figures


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        harness = Harness(args, workdir, stack)
        if args.soak:
            results["soak"] = harness.soak()
            return results
        if not args.skip_limits:
            results["limits"] = harness.limits()
        count = args.uplinks
        burst = harness.feed("wherry-burst", count)
        results["wherry"] = harness.wherry("wherry burst", "wherry_burst", burst).figures
        paced = harness.feed(
            "wherry-paced", int(args.latency_rate * args.latency_seconds), args.latency_rate
        )
        results["wherry_paced"] = harness.wherry(
            f"wherry paced at {args.latency_rate:,.0f}/s", "wherry_paced", paced
        ).figures
        if args.workers > 1:
            results["wherry_workers"] = harness.wherry(
                f"wherry × {args.workers} workers burst",
                "wherry_workers",
                harness.feed("wherry-workers", count),
                workers=args.workers,
            ).figures
        if not args.skip_node_red:
            try:
                results["node_red"] = harness.node_red()
            except Exception as exc:  # no node/npm/network: keep the rest of the run
                progress(f"Node-RED could not be measured ({exc}); --skip-node-red skips it")
                results["node_red"] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uplinks", type=int, default=200_000, help="the burst's size")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--latency-rate", type=float, default=2000.0)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1, help="> 1: also the shared-sub run")
    parser.add_argument(
        "--alert-evaluation",
        choices=("inline", "store"),
        default="inline",
        help="how one `wherry run` evaluates alerts (WHERRY_ALERT_EVALUATION); workers: store",
    )
    parser.add_argument("--skip-limits", action="store_true")
    parser.add_argument("--skip-node-red", action="store_true")
    parser.add_argument(
        "--node-red-rates",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[1000, 2000, 4000, 8000],
    )
    parser.add_argument("--node-red-paced-seconds", type=int, default=15)
    parser.add_argument("--node-red-cache", type=Path, default=NODE_RED_CACHE)
    parser.add_argument("--soak", action="store_true", help="the 10-minute soak instead")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="the soak's rate")
    parser.add_argument(
        "--broker-max-inflight",
        type=int,
        default=deployed_max_inflight(),
        help="Mosquitto's max_inflight_messages (default: deploy/mosquitto/wherry.conf's)",
    )
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temp dir)")
    parser.add_argument("--output", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_signals()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wherry-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started, machine = time.monotonic(), report.machine()
    try:
        results = run(args, workdir)
    except KeyboardInterrupt:
        progress("interrupted: everything this run started is stopped")
        return 130
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    output = args.output or (SOAK_RESULTS if args.soak else RESULTS)
    command = "bench/ingest.py " + " ".join(argv if argv is not None else sys.argv[1:])
    document = {
        "benchmark": "ingest",
        "command": command.strip(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items()
        },
        "duration_s": round(time.monotonic() - started, 1),
        "results": results,
        "ratios": report.ratios(results),
        "targets": report.targets(results),
    }
    report.print_table(document)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

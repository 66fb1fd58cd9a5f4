"""One measured phase: a feed of uplinks into a running system, until InfluxDB holds them all
(or stops growing), with its rate, latency, loss and each process's CPU and memory.

The system (wherry, or Node-RED) is already running and subscribed; the phase launches the
publisher, polls the system's database, and samples the processes it is told about.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.e2e import latency, publisher
from bench.e2e.fleet import DEVICE_STEP_NS, received_at_ns
from bench.e2e.lifecycle import stopped_at_exit
from bench.e2e.resources import ResourceSampler
from bench.e2e.store_watch import StoreWatch, blocks

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """Where a system stores what it is fed, and what to count there (one point an uplink)."""

    influx_port: int
    database: str
    measurement: str = "uplink"
    field: str = "f_cnt"


@dataclass
class Outcome:
    """The figures of one phase, and what a soak needs to look further."""

    figures: dict[str, Any]
    first_publish: float
    publish_done: float
    end: float


@dataclass(frozen=True)
class Observed:
    """What one phase saw: the publisher's report and the store's count over time."""

    published: dict[str, Any]
    stored_samples: list[tuple[float, int]]
    query_seconds: list[float]
    total: int  # the whole measurement, counted at once after the end
    complete: bool


def run(
    label: str,
    *,
    broker_port: int,
    target: Target,
    feed: publisher.Feed,
    workdir: Path,
    sampler: ResourceSampler,
    progress: Progress,
    quiet_s: float = 20.0,
    timeout_s: float | None = None,
) -> Outcome:
    """Publish `feed`, wait until `target` holds it all (or stops growing), and measure."""
    # generous: a system that stalls is caught by `quiet_s`, a slow one is measured
    expected_s = feed.count / feed.rate if feed.rate else feed.count / 1_000
    timeout = timeout_s if timeout_s is not None else 120 + 3 * expected_s
    observed = observe(
        label,
        broker_port,
        target,
        feed,
        workdir / f"publisher-{target.database}.json",
        sampler,
        progress,
        quiet_s=quiet_s,
        timeout_s=timeout,
    )
    return summarise(label, target, feed, observed, sampler)


def observe(
    label: str,
    broker_port: int,
    target: Target,
    feed: publisher.Feed,
    out: Path,
    sampler: ResourceSampler,
    progress: Progress,
    *,
    quiet_s: float,
    timeout_s: float,
) -> Observed:
    def time_of(k: int) -> int:
        return received_at_ns(k, feed.devices, feed.base_ns, feed.first_round)

    uplink_blocks = blocks(feed.count, time_of, slack_ns=DEVICE_STEP_NS // 3)
    with StoreWatch(
        target.influx_port, target.database, target.measurement, target.field, uplink_blocks
    ) as watch:
        process = publisher.launch(broker_port, feed, out)
        with stopped_at_exit(process):
            sampler.watch("publisher", [process.pid])
            said = time.monotonic()
            while process.poll() is None:
                time.sleep(0.1)
                if time.monotonic() - said >= 10:
                    progress(f"{label}: {watch.latest:,} of {feed.count:,} stored")
                    said = time.monotonic()
        published = publisher.result(out)
        complete = watch.wait_for(
            feed.count, quiet_s=quiet_s, timeout_s=timeout_s, progress=progress
        )
        sampler.snapshot()
        return Observed(
            published,
            list(watch.samples),
            sorted(watch.query_seconds),
            watch.total(),
            complete,
        )


def summarise(
    label: str,
    target: Target,
    feed: publisher.Feed,
    observed: Observed,
    sampler: ResourceSampler,
) -> Outcome:
    published, samples = observed.published, observed.stored_samples
    first_publish = float(published["started"])
    sent_curve = [(float(t), int(sent)) for t, sent, _ in published["checkpoints"]]
    stored = min(observed.total, feed.count)
    rate, seconds = latency.sustained_rate(first_publish, samples, feed.count)
    if stored < feed.count:
        rate = seconds = None
    # the end: when the last uplink became visible, or when the count last grew
    seen = samples[-1][1] if samples else 0
    last_growth = latency.time_reaching(samples, seen, interpolate=False)
    end = last_growth if last_growth is not None else time.monotonic()
    publish_s = float(published["acked_done"]) - first_publish
    queries = observed.query_seconds
    figures: dict[str, Any] = {
        "label": label,
        "database": target.database,
        "uplinks": feed.count,
        "paced_per_second": feed.rate or None,
        "published": int(published["acknowledged"]),
        "stored": stored,
        "lost": feed.count - stored,
        "loss_pct": round(100 * (feed.count - stored) / feed.count, 2),
        "complete": observed.complete,
        "seconds": None if seconds is None else round(seconds, 3),
        "per_second": None if rate is None else round(rate),
        "stored_per_second": round(stored / (end - first_publish)) if end > first_publish else 0,
        "publish_per_second": round(feed.count / publish_s) if publish_s > 0 else None,
        "latency": latency.summary(latency.latencies(sent_curve, samples, stored)),
        "count_query_ms": {
            "median": round(1000 * queries[len(queries) // 2], 1) if queries else None,
            "max": round(1000 * queries[-1], 1) if queries else None,
        },
        "processes": sampler.figures(first_publish, end),
    }
    for used in figures["processes"].values():
        used["cpu_us_per_uplink"] = round(1e6 * used["cpu_s"] / stored) if stored else None
    # the publisher measures itself: it may end between two samples
    figures["processes"]["publisher"] = {
        "cpu_s": published["cpu_s"],
        "cpu_us_per_uplink": round(1e6 * published["cpu_s"] / feed.count),
        "rss_peak_mb": published["rss_peak_mb"],
        "rss_steady_mb": None,
    }
    return Outcome(figures, first_publish, float(published["sent_done"]), end)

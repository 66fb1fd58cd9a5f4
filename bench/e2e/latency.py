"""Publish→stored latency and the sustained rate, from two count-over-time curves.

The publisher records when its sent count reached each value; the store watch records
when InfluxDB's count did. For uplink k, the latency estimate is
`time stored count first reached k − time sent count first reached k` (the sent curve
interpolated between checkpoints; the stored time is that of the first poll, every ~0.2 s,
whose answer showed k or more, so estimates are late by up to one poll interval). This
treats uplinks as first in, first out: it needs no per-uplink identity, only counts, so
neither the bridge nor InfluxDB is asked anything they would not answer in production.
The estimate is taken for 1,000 evenly spaced k and summarised as percentiles.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

GRID = 1000


def time_reaching(curve: Sequence[tuple[float, int]], k: int, *, interpolate: bool) -> float | None:
    """When a non-decreasing count curve first reached `k` (None if it never did)."""
    counts = [count for _, count in curve]
    at = bisect.bisect_left(counts, k)
    if at == len(curve):
        return None
    t, count = curve[at]
    if not interpolate or at == 0 or count == k:
        return t
    t0, c0 = curve[at - 1]
    return t0 + (t - t0) * (k - c0) / (count - c0)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def latencies(
    sent: Sequence[tuple[float, int]], stored: Sequence[tuple[float, int]], total: int
) -> list[float]:
    """Latency estimates (s) for up to GRID uplinks spread over 1…total that were stored."""
    step = max(1, total // GRID)
    out = []
    for k in range(step, total + 1, step):
        published_at = time_reaching(sent, k, interpolate=True)
        stored_at = time_reaching(stored, k, interpolate=False)
        if published_at is not None and stored_at is not None:
            out.append(max(0.0, stored_at - published_at))
    return out


def summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_s": None, "p99_s": None, "max_s": None}
    return {
        "p50_s": round(percentile(values, 50), 3),
        "p99_s": round(percentile(values, 99), 3),
        "max_s": round(max(values), 3),
    }


def sustained_rate(
    first_publish: float, stored: Sequence[tuple[float, int]], total: int
) -> tuple[float | None, float | None]:
    """(uplinks/s, seconds) from the first publish to the poll that saw the last one stored;
    (None, None) if not all were stored."""
    done = time_reaching(stored, total, interpolate=False)
    if done is None or done <= first_publish:
        return None, None
    seconds = done - first_publish
    return total / seconds, seconds

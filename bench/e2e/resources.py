"""CPU seconds and resident memory of named processes (each with its children), from /proc.

A thread samples every second: utime + stime from /proc/<pid>/stat (clock ticks) and VmRSS
from /proc/<pid>/status, summed over the process and its descendants (a launcher such as
`npx` or a shell runs the real work in a child).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 1.0


@dataclass(frozen=True)
class Usage:
    cpu_s: float
    rss_bytes: int


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree(root: int) -> list[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def usage(pids: list[int]) -> Usage:
    cpu, rss = 0.0, 0
    for root in pids:
        for pid in _tree(root):
            info = _stat(pid)
            if info is not None:
                cpu += info[1]
                rss += _rss(pid)
    return Usage(cpu, rss)


@dataclass
class Series:
    """One named process group's samples: (monotonic time, usage)."""

    pids: list[int]
    samples: list[tuple[float, Usage]] = field(default_factory=list)
    last: Usage | None = None  # the last sample taken while it was alive


class ResourceSampler:
    """Samples every watched group each second; `snapshot()` takes one sample now."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resources", daemon=True)

    def watch(self, name: str, pids: list[int]) -> None:
        with self._lock:
            self.series[name] = Series(list(pids))
        self.snapshot()

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def snapshot(self) -> None:
        now = time.monotonic()
        with self._lock:
            for series in self.series.values():
                if not any(Path(f"/proc/{pid}").exists() for pid in series.pids):
                    continue
                sample = usage(series.pids)
                series.samples.append((now, sample))
                series.last = sample

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.snapshot()

    def figures(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per group: CPU seconds from the last sample before `start` to the first after
        `end`, peak RSS over those samples, and steady RSS (the median of the samples in
        the second half of the window)."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            for name, series in self.series.items():
                samples = series.samples
                if not samples or samples[-1][0] < start or samples[0][0] > end:
                    continue  # not running during the window
                first = max((n for n, (t, _) in enumerate(samples) if t <= start), default=0)
                last = min(
                    (n for n, (t, _) in enumerate(samples) if t >= end), default=len(samples) - 1
                )
                window = samples[first : last + 1]
                middle = start + (end - start) / 2
                steady = [u.rss_bytes for t, u in window if t >= middle] or [
                    window[-1][1].rss_bytes
                ]
                out[name] = {
                    "cpu_s": round(window[-1][1].cpu_s - window[0][1].cpu_s, 2),
                    "rss_peak_mb": round(max(u.rss_bytes for _, u in window) / 2**20, 1),
                    "rss_steady_mb": round(statistics.median(steady) / 2**20, 1),
                }
        return out

    def rss_timeline(self, name: str, start: float, every_s: float) -> list[tuple[float, float]]:
        """(seconds since `start`, RSS MB) about every `every_s` seconds."""
        timeline: list[tuple[float, float]] = []
        with self._lock:
            for t, u in self.series[name].samples:
                if t >= start and (not timeline or t - start >= timeline[-1][0] + every_s - 0.5):
                    timeline.append((round(t - start, 1), round(u.rss_bytes / 2**20, 1)))
        return timeline


def flatness(
    timeline: list[tuple[float, float]], *, warmup_s: float, last_s: float
) -> dict[str, float | None]:
    """Growth of steady RSS over a soak: the mean of the first minute after `warmup_s`
    against the mean of the minute ending at `last_s` (seconds since the start)."""
    first = [mb for t, mb in timeline if warmup_s <= t < warmup_s + 60]
    last = [mb for t, mb in timeline if last_s - 60 <= t <= last_s]
    if not first or not last:
        return {"first_minute_mb": None, "last_minute_mb": None, "growth_pct": None}
    first_mb, last_mb = statistics.fmean(first), statistics.fmean(last)
    return {
        "first_minute_mb": round(first_mb, 1),
        "last_minute_mb": round(last_mb, 1),
        "growth_pct": round(100 * (last_mb - first_mb) / first_mb, 2),
    }

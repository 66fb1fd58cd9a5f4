"""How many uplinks one InfluxDB database holds, polled every ~0.2 s on a thread.

(When a count takes longer than 0.1 s, the watch waits as long as it took: it never keeps
InfluxDB counting more than half the time.)

`SELECT count(<field>) FROM <measurement>` over InfluxDB's v1 /query, on one keep-alive
connection. Every uplink is one point with a unique (series, time), so the count is the
number stored exactly once: a redelivered uplink overwrites itself and is not counted twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

POLL_S = 0.2
BLOCK = 10_000  # uplinks counted together


def count_points(client: httpx.Client, database: str, measurement: str, field: str) -> int:
    """The count, 0 while the database or measurement does not exist yet."""
    response = client.get(
        "/query", params={"db": database, "q": f'SELECT count("{field}") FROM "{measurement}"'}
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()["results"][0]
    if "error" in result:
        if "database not found" in str(result["error"]):
            return 0
        raise RuntimeError(f"InfluxDB: {result['error']}")
    series = result.get("series")
    if not series:
        return 0
    return int(series[0]["values"][0][1])


@dataclass
class Block:
    """Uplinks whose times fall in [start_ns, end_ns): `expected` of them, `counted` so far."""

    start_ns: int
    end_ns: int
    expected: int
    counted: int = 0

    @property
    def complete(self) -> bool:
        return self.counted >= self.expected


def blocks(
    count: int, time_of: Callable[[int], int], *, slack_ns: int, size: int = BLOCK
) -> list[Block]:
    """Uplinks 0…count-1 in blocks of `size`, by their strictly increasing times.

    Each boundary sits `slack_ns` before the block's first uplink (less than the time
    between two uplinks), so a system that stores times rounded to the millisecond is
    still counted in the right block."""
    starts = [time_of(first) - slack_ns for first in range(0, count, size)]
    ends = [*starts[1:], time_of(count - 1) + slack_ns]
    return [
        Block(start, end, min(size, count - n * size))
        for n, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def count_blocks(
    client: httpx.Client, database: str, measurement: str, field: str, todo: list[Block]
) -> None:
    """Count each block's points, all in one request (one statement each)."""
    statements = ";".join(
        f'SELECT count("{field}") FROM "{measurement}" '
        f"WHERE time >= {block.start_ns} AND time < {block.end_ns}"
        for block in todo
    )
    response = client.get("/query", params={"db": database, "q": statements})
    response.raise_for_status()
    for block, result in zip(todo, response.json()["results"], strict=True):
        if "error" in result:
            if "database not found" in str(result["error"]):
                continue
            raise RuntimeError(f"InfluxDB: {result['error']}")
        series = result.get("series")
        block.counted = int(series[0]["values"][0][1]) if series else 0


class StoreWatch:
    """Samples `(monotonic time, count)` until stopped; `wait_for` waits for a count.

    Given the uplinks' `blocks`, a poll counts only the blocks not yet complete near the
    front (a complete block cannot change: each uplink is stored once), so a poll costs
    the same at the end of a 10-minute soak as at its start. Without, it counts everything.
    """

    def __init__(
        self,
        influx_port: int,
        database: str,
        measurement: str,
        field: str,
        uplink_blocks: list[Block] | None = None,
    ) -> None:
        self.database, self.measurement, self.field = database, measurement, field
        self.blocks = uplink_blocks
        self.samples: list[tuple[float, int]] = []
        self.query_seconds: list[float] = []
        self._client = httpx.Client(base_url=f"http://127.0.0.1:{influx_port}", timeout=30)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{database}", daemon=True)

    def __enter__(self) -> StoreWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._client.close()

    @property
    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                value = self._count()
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError):
                value = self.latest  # a slow or failed answer: keep the last known count
            # the time the answer arrived: the point was visible by then, not before
            answered = time.monotonic()
            self.samples.append((answered, value))
            took = answered - started
            self.query_seconds.append(took)
            # every POLL_S, but never busier than half the time: counting a big database
            # costs InfluxDB CPU that the system under test would otherwise have
            self._stop.wait(max(POLL_S - took, took))

    def _count(self) -> int:
        if self.blocks is None:
            return count_points(self._client, self.database, self.measurement, self.field)
        # the incomplete blocks up to two past the furthest one with anything in it
        front = max((n for n, b in enumerate(self.blocks) if b.counted), default=-1) + 2
        todo = [b for b in self.blocks[: front + 1] if not b.complete]
        if todo:
            count_blocks(self._client, self.database, self.measurement, self.field, todo)
        return sum(b.counted for b in self.blocks)

    def total(self) -> int:
        """Everything in the measurement, counted at once (for the final word on loss)."""
        return count_points(self._client, self.database, self.measurement, self.field)

    def wait_for(
        self,
        target: int,
        *,
        quiet_s: float,
        timeout_s: float,
        still_arriving: threading.Event | None = None,
        progress: Any = None,
    ) -> bool:
        """True once `target` points are stored; False when the count stopped growing for
        `quiet_s` (after the publisher finished, `still_arriving` cleared) or at timeout."""
        deadline = time.monotonic() + timeout_s
        last_value, last_change, last_said = -1, time.monotonic(), 0.0
        while time.monotonic() < deadline:
            value = self.latest
            now = time.monotonic()
            if value >= target:
                return True
            if value != last_value:
                last_value, last_change = value, now
            busy = still_arriving is not None and still_arriving.is_set()
            if not busy and now - last_change > quiet_s:
                return False
            if progress is not None and now - last_said >= 5:
                progress(f"{self.database}: {value:,} of {target:,} stored")
                last_said = now
            time.sleep(POLL_S / 2)
        return False

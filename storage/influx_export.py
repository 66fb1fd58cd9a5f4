"""Copy an InfluxDB database's points out to a file and back, through the v1 HTTP API.

A backup is one gzip file per retention policy; each line is one point's line protocol
as a JSON string (a string field may hold a newline, so raw line protocol cannot be split
back into points safely; `zcat file | jq -r .` gives plain line protocol). Field types
come from `SHOW FIELD KEYS`, so the float 2.0 goes back as a float and 2i as an integer.

Why not `influxd backup -portable`: it needs the `influxd` binary and the server's RPC port
(8088, loopback only by default) on the machine that runs wherry, and it does not exist for
2.x/3.x. This needs only what wherry already uses. It is slower on big databases (about
as fast as wherry writes); docs/operations.md says when to prefer `influxd backup`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StoreRejected
from storage.influx import series_points
from storage.influx_admin import InfluxAdmin
from storage.line_protocol import encode_point

RESTORE_BATCH_LINES = 5_000
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Restored:
    points: int
    dropped: int  # older than the retention policy keeps: InfluxDB refuses them


def export_policy(admin: InfluxAdmin, rp: str, path: Path, *, echo: Echo) -> int:
    """Every point of every measurement in retention policy `rp` into `path`; how many."""
    total = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for measurement in admin.measurements(rp=rp):
            types = admin.field_types(measurement, rp=rp)
            statement = f"SELECT * FROM {admin.qualified(measurement, rp)} GROUP BY *"
            count = 0
            for series in admin.stream_series(statement, rp=rp):
                for point in series_points(measurement, series, types):
                    out.write(json.dumps(encode_point(point), ensure_ascii=False) + "\n")
                    count += 1
            echo(f"  {rp}.{measurement}: {count} points")
            total += count
    return total


def read_lines(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as source:
        for line in source:
            if line.strip():
                yield str(json.loads(line))


def import_policy(admin: InfluxAdmin, rp: str, lines: Iterable[str], *, echo: Echo) -> Restored:
    """Write the points back into `rp`, in batches; rewriting a point is harmless."""
    points = dropped = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal points, dropped
        if not batch:
            return
        body = ("\n".join(batch) + "\n").encode("utf-8")
        try:
            admin.write_lines(body, rp=rp)
        except StoreRejected as exc:
            if "beyond retention policy" not in str(exc):
                raise
            dropped += _dropped_count(str(exc), len(batch))
        points += len(batch)
        batch.clear()
        if points % (RESTORE_BATCH_LINES * 20) == 0:
            echo(f"  {rp}: {points} points sent")

    for line in lines:
        batch.append(line)
        if len(batch) >= RESTORE_BATCH_LINES:
            flush()
    flush()
    return Restored(points - dropped, dropped)


def _dropped_count(message: str, default: int) -> int:
    marker = "dropped="
    if marker in message:
        digits = message.split(marker, 1)[1].split()[0].strip(",;\"'")
        if digits.isdigit():
            return int(digits)
    return default

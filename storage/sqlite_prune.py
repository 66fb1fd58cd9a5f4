"""Delete old readings from an SQLite readings store (`wherry store prune`).

SQLite has no retention policies: without this a file grows by roughly 1 GB a year for a
hundred sensors. Pruning is explicit (a command, a systemd timer or cron) rather than
something `wherry run` does by itself, so no setting can silently delete a school's data.

Only samples are deleted, one series at a time (each a short transaction that a running
`wherry run` can interleave with); `series` and `field` rows stay, because a running
store keeps their ids in memory.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StoreUnavailable
from storage.sqlite import SCHEMA_VERSION


@dataclass(frozen=True)
class Pruned:
    samples: int
    series: int


def prune_sqlite(path: str | Path, before_ns: int, *, timeout: float = 30.0) -> Pruned:
    """Delete every field value timed before `before_ns`; how many, in how many series."""
    if not Path(path).exists():
        raise StoreUnavailable(f"no SQLite readings store at {path}")
    connection = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{path} has readings schema version {version}; this wherry prunes version "
                f"{SCHEMA_VERSION}"
            )
        connection.execute("PRAGMA journal_mode = WAL")
        samples = touched = 0
        series_ids = [row[0] for row in connection.execute("SELECT series_id FROM series")]
        for series_id in series_ids:
            connection.execute("BEGIN IMMEDIATE")
            cursor = connection.execute(
                "DELETE FROM sample WHERE series_id = ? AND time_ns < ?", (series_id, before_ns)
            )
            connection.execute("COMMIT")
            if cursor.rowcount > 0:
                samples += cursor.rowcount
                touched += 1
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Pruned(samples, touched)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot prune {path}: {exc}") from exc
    finally:
        connection.close()

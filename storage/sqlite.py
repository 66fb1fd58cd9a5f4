"""The embedded readings store: one SQLite file, InfluxDB's semantics.

A point is identified by measurement + tag set + time, and a later write replaces an
earlier one field by field, exactly as in InfluxDB. Storing one row per field value
(`sample`) makes that merge a plain upsert. A field keeps the type it was first written
with, per measurement, as in InfluxDB: a conflicting write is refused.

Schema (version 1, in `PRAGMA user_version`):

- `series(series_id, measurement, tag_set, device_id)`: one row per measurement and
  tag set; `tag_set` is the canonical JSON object of the tags (keys sorted, empty
  values dropped), `device_id` copies that tag for the common filter.
- `field(field_id, measurement, name, kind)`: kind is float|integer|string|boolean.
- `sample(series_id, time_ns, field_id, value)`, primary key
  (series_id, time_ns, field_id), WITHOUT ROWID.

One connection, guarded by a lock, is shared by the writer thread and API threads.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from storage.errors import StoreRejected, StoreUnavailable
from storage.line_protocol import FIELD_TYPES, check_points, field_type, stored_tags
from storage.points import FieldValue, Point
from storage.readings import (
    NUMERIC_KINDS,
    AggregateFunction,
    AggregateValue,
    check_aggregate,
    field_set,
    newest_per_group,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    series_id   INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tag_set     TEXT NOT NULL,
    device_id   TEXT,
    UNIQUE (measurement, tag_set)
);
CREATE INDEX IF NOT EXISTS series_by_device ON series (measurement, device_id);
CREATE TABLE IF NOT EXISTS field (
    field_id    INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('float', 'integer', 'string', 'boolean')),
    UNIQUE (measurement, name)
);
CREATE TABLE IF NOT EXISTS sample (
    series_id INTEGER NOT NULL,
    time_ns   INTEGER NOT NULL,
    field_id  INTEGER NOT NULL,
    value     NOT NULL,  -- no declared type: SQLite keeps each value's own type
    PRIMARY KEY (series_id, time_ns, field_id)
) WITHOUT ROWID;
"""

_UPSERT = (
    "INSERT INTO sample (series_id, time_ns, field_id, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (series_id, time_ns, field_id) DO UPDATE SET value = excluded.value"
)

SYNCHRONOUS_MODES = ("normal", "full")

TagSet = tuple[tuple[str, str], ...]


class SQLiteStore:
    """Readings in one SQLite file (WAL mode), for `wherry demo` and single-machine sites.

    `synchronous="full"` (the default) makes every write durable against power loss
    before `write` returns; `"normal"` is faster and durable against a crash of wherry
    but may lose the last writes on power loss. `timeout` is how long a write waits for
    another process's lock before raising `StoreUnavailable`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "full",
        timeout: float = 5.0,
    ) -> None:
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        self.path = str(path)
        self._lock = threading.Lock()
        self._series_ids: dict[tuple[str, ...], int] = {}
        self._fields: dict[tuple[str, str], tuple[int, str]] = {}
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._connection: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._prepare(synchronous)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc

    def _prepare(self, synchronous: str) -> None:
        connection = self._live()
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StoreUnavailable(
                f"{self.path} has readings schema version {version}; "
                f"this wherry knows version {SCHEMA_VERSION}"
            )
        if self.path != ":memory:":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        connection.executescript(_SCHEMA)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreUnavailable(f"SQLite store {self.path} is closed")
        return self._connection

    @contextmanager
    def _using(self, action: str) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, with SQLite errors mapped to store errors."""
        with self._lock:
            connection = self._live()
            try:
                yield connection
            except sqlite3.Error as exc:
                raise StoreUnavailable(self._explain(action, exc)) from exc

    def _explain(self, action: str, exc: sqlite3.Error) -> str:
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith("SQLITE_FULL"):
            return f"cannot {action} {self.path}: the disk (or the database) is full"
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return f"cannot {action} {self.path}: another process holds a lock on it ({exc})"
        return f"cannot {action} {self.path}: {exc}"

    # -- writing ----------------------------------------------------------------------------

    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        check_points(points)
        with self._using("write to") as connection:
            new_series: dict[tuple[str, ...], int] = {}
            new_fields: dict[tuple[str, str], tuple[int, str]] = {}
            connection.execute("BEGIN IMMEDIATE")
            try:
                rows = self._rows(connection, points, new_series, new_fields)
                connection.executemany(_UPSERT, rows)
                connection.execute("COMMIT")
            except BaseException:
                _roll_back(connection)
                raise
            self._series_ids.update(new_series)
            self._fields.update(new_fields)

    def _rows(
        self,
        connection: sqlite3.Connection,
        points: Sequence[Point],
        new_series: dict[tuple[str, ...], int],
        new_fields: dict[tuple[str, str], tuple[int, str]],
    ) -> list[tuple[int, int, int, FieldValue]]:
        """One row per field value; series and fields met for the first time are added."""
        rows: list[tuple[int, int, int, FieldValue]] = []
        append = rows.append
        series_ids, fields = self._series_ids, self._fields
        for point in points:
            measurement, time_ns = point.measurement, point.time_ns
            # Keyed by the tags as given (cheap); different orders of one tag set share an id.
            series_key = (measurement, *itertools.chain.from_iterable(point.tags.items()))
            series_id = series_ids.get(series_key) or new_series.get(series_key)
            if series_id is None:
                series_id = self._series_id(connection, measurement, stored_tags(point.tags))
                new_series[series_key] = series_id
            for name, value in point.fields.items():
                kind = FIELD_TYPES.get(type(value)) or field_type(value)
                field_key = (measurement, name)
                known = fields.get(field_key) or new_fields.get(field_key)
                if known is None:
                    known = self._field(connection, measurement, name, kind or "")
                    new_fields[field_key] = known
                if known[1] != kind:
                    raise StoreRejected(
                        f"field type conflict: field {name!r} of measurement {measurement!r} "
                        f"is {known[1]}, this point has {kind} (time {time_ns}, "
                        f"tags {dict(point.tags)})"
                    )
                append((series_id, time_ns, known[0], value))
        return rows

    @staticmethod
    def _series_id(connection: sqlite3.Connection, measurement: str, tags: TagSet) -> int:
        tag_set = json.dumps(dict(tags), ensure_ascii=False, separators=(",", ":"))
        row = connection.execute(
            "SELECT series_id FROM series WHERE measurement = ? AND tag_set = ?",
            (measurement, tag_set),
        ).fetchone()
        if row is not None:
            return int(row[0])
        cursor = connection.execute(
            "INSERT INTO series (measurement, tag_set, device_id) VALUES (?, ?, ?)",
            (measurement, tag_set, dict(tags).get("device_id")),
        )
        return int(cursor.lastrowid or 0)

    @staticmethod
    def _field(
        connection: sqlite3.Connection, measurement: str, name: str, kind: str
    ) -> tuple[int, str]:
        row = connection.execute(
            "SELECT field_id, kind FROM field WHERE measurement = ? AND name = ?",
            (measurement, name),
        ).fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        cursor = connection.execute(
            "INSERT INTO field (measurement, name, kind) VALUES (?, ?, ?)",
            (measurement, name, kind),
        )
        return int(cursor.lastrowid or 0), kind

    # -- reading ----------------------------------------------------------------------------

    def _matching_series(
        self, connection: sqlite3.Connection, measurement: str, tags: Mapping[str, str] | None
    ) -> dict[int, dict[str, str]]:
        """Series of `measurement` whose tags match; an empty wanted value means 'no such tag'."""
        wanted = dict(tags or {})
        sql = "SELECT series_id, tag_set FROM series WHERE measurement = ?"
        params: list[str] = [measurement]
        if wanted.get("device_id"):
            sql += " AND device_id = ?"
            params.append(wanted["device_id"])
        matching: dict[int, dict[str, str]] = {}
        for series_id, tag_set in connection.execute(sql, params):
            series_tags: dict[str, str] = json.loads(tag_set)
            if all(series_tags.get(key, "") == value for key, value in wanted.items()):
                matching[int(series_id)] = series_tags
        return matching

    def query(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
        fields: Collection[str] | None = None,
    ) -> list[Point]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        if limit == 0:
            return []
        with self._using("read") as connection:
            series = self._matching_series(connection, measurement, tags)
            if not series:
                return []
            known = self._fields_of(connection, measurement)
            sql, params = self._sample_filter(series, start_ns, end_ns)
            if fields is not None:
                wanted = [field_id for field_id, (name, _) in known.items() if name in fields]
                if not wanted:
                    return []
                sql += " AND field_id IN (SELECT value FROM json_each(?))"
                params.append(json.dumps(wanted))
            cursor = connection.execute(
                f"SELECT series_id, time_ns, field_id, value FROM sample WHERE {sql} "
                "ORDER BY time_ns, series_id",
                params,
            )
            return _points(measurement, cursor, series, known, limit)

    @staticmethod
    def _fields_of(connection: sqlite3.Connection, measurement: str) -> dict[int, tuple[str, str]]:
        """field_id -> (name, kind) for every field of `measurement`."""
        return {
            int(field_id): (str(name), str(kind))
            for field_id, name, kind in connection.execute(
                "SELECT field_id, name, kind FROM field WHERE measurement = ?", (measurement,)
            )
        }

    def latest(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        group_by: str = "device_id",
    ) -> dict[str, Point]:
        with self._using("read") as connection:
            series = {
                series_id: series_tags
                for series_id, series_tags in self._matching_series(
                    connection, measurement, tags
                ).items()
                if series_tags.get(group_by)
            }
            if not series:
                return {}
            known = self._fields_of(connection, measurement)
            # The newest time of each series (one index seek each), then its whole point.
            rows = connection.execute(
                "WITH newest (series_id, time_ns) AS ("
                " SELECT ids.value, (SELECT max(time_ns) FROM sample WHERE series_id = ids.value)"
                " FROM json_each(?) AS ids)"
                " SELECT sample.series_id, sample.time_ns, sample.field_id, sample.value"
                " FROM newest JOIN sample USING (series_id, time_ns)"
                " ORDER BY sample.time_ns, sample.series_id",
                (json.dumps(list(series)),),
            )
            return newest_per_group(_points(measurement, rows, series, known, None), group_by)

    def aggregate(
        self,
        measurement: str,
        field: str,
        *,
        function: AggregateFunction,
        window_ns: int,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> list[tuple[int, AggregateValue]]:
        check_aggregate(function, window_ns)
        if start_ns >= end_ns:
            return []
        with self._using("read") as connection:
            row = connection.execute(
                "SELECT field_id, kind FROM field WHERE measurement = ? AND name = ?",
                (measurement, field),
            ).fetchone()
            if row is None:
                return []
            field_id, kind = int(row[0]), str(row[1])
            if function != "count" and kind not in NUMERIC_KINDS:
                raise StoreRejected(
                    f"cannot take the {function} of field {field!r} of {measurement!r}: it "
                    f"holds {kind} values; only count works on those"
                )
            series = self._matching_series(connection, measurement, tags)
            if not series:
                return []
            sql, params = self._sample_filter(series, start_ns, end_ns)
            reducer = {"mean": "avg(value)", "min": "min(value)", "max": "max(value)"}.get(
                function, "count(*)"
            )
            # SQLite's % truncates toward zero; adding the window back floors it, as InfluxQL
            # does for times before the epoch.
            cursor = connection.execute(
                f"SELECT time_ns - ((time_ns % ?) + ?) % ? AS window, {reducer} FROM sample "
                f"WHERE {sql} AND field_id = ? GROUP BY window ORDER BY window",
                [window_ns, window_ns, window_ns, *params, field_id],
            )
            cast = _aggregate_cast(function, kind)
            return [(int(window), cast(value)) for window, value in cursor]

    def aggregate_fields(
        self,
        measurement: str,
        fields: Collection[str],
        *,
        function: AggregateFunction,
        window_ns: int,
        start_ns: int,
        end_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, list[tuple[int, AggregateValue]]]:
        # One query per field: SQLite runs in this process, so a query costs no round trip.
        check_aggregate(function, window_ns)
        answer: dict[str, list[tuple[int, AggregateValue]]] = {}
        for name in field_set(fields):
            windows = self.aggregate(
                measurement,
                name,
                function=function,
                window_ns=window_ns,
                start_ns=start_ns,
                end_ns=end_ns,
                tags=tags,
            )
            if windows:
                answer[name] = windows
        return answer

    def field_names(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[str]:
        with self._using("read") as connection:
            series = self._matching_series(connection, measurement, tags)
            if not series:
                return []
            known = self._fields_of(connection, measurement)
            sql, params = self._sample_filter(series, start_ns, end_ns)
            # Stops at the first sample carrying each field: reads the whole range only
            # for fields that are absent from it.
            present = [
                field_id
                for field_id in known
                if connection.execute(
                    f"SELECT 1 FROM sample WHERE {sql} AND field_id = ? LIMIT 1",
                    [*params, field_id],
                ).fetchone()
            ]
            return sorted(known[field_id][0] for field_id in present)

    @staticmethod
    def _sample_filter(
        series: Mapping[int, object], start_ns: int | None, end_ns: int | None
    ) -> tuple[str, list[int | str]]:
        params: list[int | str] = []
        if len(series) == 1:
            sql = "series_id = ?"
            params.append(next(iter(series)))
        else:
            sql = "series_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(series)))
        if start_ns is not None:
            sql += " AND time_ns >= ?"
            params.append(int(start_ns))
        if end_ns is not None:
            sql += " AND time_ns < ?"
            params.append(int(end_ns))
        return sql, params

    def count(self, measurement: str, field: str, *, tags: Mapping[str, str] | None = None) -> int:
        with self._using("read") as connection:
            row = connection.execute(
                "SELECT field_id FROM field WHERE measurement = ? AND name = ?",
                (measurement, field),
            ).fetchone()
            if row is None:
                return 0
            if not tags:
                found = connection.execute(
                    "SELECT count(*) FROM sample WHERE field_id = ?", (row[0],)
                ).fetchone()
                return int(found[0])
            series = self._matching_series(connection, measurement, tags)
            if not series:
                return 0
            sql, params = self._sample_filter(series, None, None)
            found = connection.execute(
                f"SELECT count(*) FROM sample WHERE {sql} AND field_id = ?", [*params, row[0]]
            ).fetchone()
            return int(found[0])

    def ping(self) -> bool:
        try:
            with self._using("read") as connection:
                connection.execute("SELECT 1").fetchone()
        except StoreUnavailable:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


def _points(
    measurement: str,
    rows: Iterable[tuple[int, int, int, FieldValue]],
    series: Mapping[int, Mapping[str, str]],
    fields: Mapping[int, tuple[str, str]],
    limit: int | None,
) -> list[Point]:
    """Fold rows (one per field value, ordered by time then series) into points."""
    points: list[Point] = []
    current: tuple[int, int] | None = None
    values: dict[str, FieldValue] = {}
    for series_id, time_ns, field_id, value in rows:
        if (series_id, time_ns) != current:
            if current is not None:
                points.append(Point(measurement, dict(series[current[0]]), values, current[1]))
                if limit is not None and len(points) >= limit:
                    return points
            current, values = (series_id, time_ns), {}
        name, kind = fields[field_id]
        values[name] = _typed(kind, value)
    if current is not None:
        points.append(Point(measurement, dict(series[current[0]]), values, current[1]))
    return points


def _aggregate_cast(function: str, kind: str) -> type[float] | type[int]:
    if function == "count":
        return int
    if function == "mean" or kind == "float":
        return float
    return int


def _typed(kind: str, value: FieldValue) -> FieldValue:
    if kind == "boolean":
        return bool(value)
    if kind == "float":
        return float(value)
    return value


def _roll_back(connection: sqlite3.Connection) -> None:
    """Undo the open transaction; SQLite may already have done so (disk full, I/O error)."""
    with suppress(sqlite3.Error):
        connection.execute("ROLLBACK")

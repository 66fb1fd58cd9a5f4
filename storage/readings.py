"""The readings-store interface: InfluxDB (`influx.py`) and SQLite (`sqlite.py`) implement it.

Helpers both stores share, so they answer identically, live here too: how a time falls
into an aggregation window, and which point is "the newest" of a group.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal, Protocol

from storage.points import Point

AggregateFunction = Literal["mean", "min", "max", "count"]
AGGREGATE_FUNCTIONS: tuple[AggregateFunction, ...] = ("mean", "min", "max", "count")
NUMERIC_KINDS = frozenset({"float", "integer"})

AggregateValue = float | int | None


class ReadingStore(Protocol):
    """Where points live. Both implementations pass `tests/integration/test_store_contract.py`."""

    def write(self, points: Sequence[Point]) -> None:
        """Store the points; same measurement + tags + time overwrites (idempotent).

        Raises `StoreUnavailable` when the store cannot take them now and
        `StoreRejected` when it never will.
        """
        ...

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
        """Points of one measurement, oldest first, by exact tag values and [start, end).

        With `fields`, only points carrying at least one of them, and only those fields.
        """
        ...

    def latest(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        group_by: str = "device_id",
    ) -> dict[str, Point]:
        """The newest point of each value of tag `group_by` (e.g. each device), by exact tags.

        A whole point: all the fields stored at its time, never field values gathered
        from different times. Points without the `group_by` tag are left out. When two
        series of one group share the newest time, the one whose sorted tags sort first wins.
        """
        ...

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
        """(window start, value) per window in [start, end), oldest first.

        Windows are aligned to the epoch like InfluxQL's `GROUP BY time()`, so the first
        window may start before `start_ns` (it holds only points from `start_ns` on).
        Empty windows are omitted. `count` counts points carrying `field` (an int);
        `mean` is a float; `min`/`max` keep the field's type. `mean`, `min` and `max` of
        a string or boolean field raise `StoreRejected`; an unknown field gives [].
        """
        ...

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
        """`aggregate` of each of `fields`, by field name, in one query where the store can.

        Fields without a window in range (unknown ones too) are left out. `mean`, `min` or
        `max` with a string or boolean field among `fields` raises `StoreRejected`.
        """
        ...

    def field_names(
        self,
        measurement: str,
        *,
        tags: Mapping[str, str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[str]:
        """The fields carried by at least one matching point in [start, end), sorted."""
        ...

    def count(self, measurement: str, field: str, *, tags: Mapping[str, str] | None = None) -> int:
        """How many points of `measurement` carry `field`."""
        ...

    def ping(self) -> bool:
        """True when the store answers."""
        ...

    def close(self) -> None: ...


def window_start(time_ns: int, window_ns: int) -> int:
    """The start of the epoch-aligned window of `window_ns` holding `time_ns` (floor)."""
    return time_ns - time_ns % window_ns


def check_aggregate(function: str, window_ns: int) -> None:
    """Refuse (ValueError) an aggregation no store can run, before asking one."""
    if function not in AGGREGATE_FUNCTIONS:
        raise ValueError(
            f"function must be one of {', '.join(AGGREGATE_FUNCTIONS)}, not {function!r}"
        )
    if isinstance(window_ns, bool) or not isinstance(window_ns, int) or window_ns < 1:
        raise ValueError(f"window_ns must be a positive int of nanoseconds, not {window_ns!r}")


def field_set(fields: Collection[str]) -> list[str]:
    """The distinct names in `fields`, sorted; a lone string is refused, not read as letters."""
    if isinstance(fields, str):
        raise TypeError("fields must be a collection of field names, not one string")
    return sorted(set(fields))


def newest_per_group(points: Iterable[Point], group_by: str) -> dict[str, Point]:
    """The newest point for each value of tag `group_by`; ties go to the first sorted tags."""
    newest: dict[str, Point] = {}
    for point in points:
        group = point.tags.get(group_by)
        if not group:
            continue
        held = newest.get(group)
        if (
            held is None
            or point.time_ns > held.time_ns
            or (
                point.time_ns == held.time_ns
                and sorted(point.tags.items()) < sorted(held.tags.items())
            )
        ):
            newest[group] = point
    return newest

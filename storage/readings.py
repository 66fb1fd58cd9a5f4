"""The readings-store interface: InfluxDB (`influx.py`) and SQLite (`sqlite.py`) implement it."""

from collections.abc import Mapping, Sequence
from typing import Protocol

from storage.points import Point


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
    ) -> list[Point]:
        """Points of one measurement, oldest first, by exact tag values and [start, end)."""
        ...

    def count(self, measurement: str, field: str, *, tags: Mapping[str, str] | None = None) -> int:
        """How many points of `measurement` carry `field`."""
        ...

    def ping(self) -> bool:
        """True when the store answers."""
        ...

    def close(self) -> None: ...

"""Nanosecond data-clock arithmetic and the ISO 8601 form explanations carry.

The alert engine and its rules run on the data's clock (`time_ns`), never on wall time;
explanations are read by people and stored as JSON, so their times are ISO 8601 UTC
strings.
"""

from datetime import UTC, datetime, timedelta

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def minutes_ns(minutes: float) -> int:
    """A duration in minutes (as configured) as nanoseconds on the data clock."""
    return round(minutes * NS_PER_MINUTE)


def iso_utc(time_ns: int) -> str:
    """`time_ns` as ISO 8601 UTC with a `Z`, to the microsecond (exact integer arithmetic)."""
    moment = _EPOCH + timedelta(microseconds=time_ns // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def minutes_between(start_ns: int, end_ns: int) -> float:
    """Elapsed minutes, rounded to 0.1 min for explanations people read."""
    return round((end_ns - start_ns) / NS_PER_MINUTE, 1)

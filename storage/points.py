"""The unit of storage: one point in the InfluxDB sense."""

from collections.abc import Mapping
from dataclasses import dataclass

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    """A measurement, its tags, its fields and a nanosecond timestamp.

    Two points with the same measurement, tag set and time are the same point: a
    later write replaces the earlier one field by field. That is what makes a
    redelivered uplink overwrite itself in every store.
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int

"""Readings as the API shows them, and the query parameters that choose them.

The shapes here are the open-data contract pupils script against (docs/open-data.md):
add fields if needed, never rename or remove one.

Every time is ISO 8601 in UTC with a `Z` (`2026-01-15T03:10:00Z`), with as many fraction
digits as the network server's nanosecond timestamp needs. Parsing is strict and its
errors say what would be right: a time needs a time zone, a window a unit, a quantity
must be one of decoders.QUANTITIES.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, Field

from decoders import QUANTITIES
from storage.line_protocol import MAX_TIME_NS, MIN_TIME_NS
from storage.readings import AggregateFunction

SECOND_NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1)

DEVICE_ID_PATTERN = r"^[a-z0-9](?:-?[a-z0-9])+$"
"""TTN device ids: lower-case letters, digits and single '-' between them, 2-36 long."""

MAX_WINDOWS = 10_000
"""Most windows one aggregated request may ask for (range ÷ window)."""
MIN_WINDOW_NS = SECOND_NS
MAX_WINDOW_NS = 366 * 86_400 * SECOND_NS
DEFAULT_RANGE_NS = 86_400 * SECOND_NS
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

_WINDOW_UNITS = {"s": SECOND_NS, "m": 60 * SECOND_NS, "h": 3600 * SECOND_NS}
_WINDOW_UNITS["d"] = 24 * _WINDOW_UNITS["h"]
_WINDOW_UNITS["w"] = 7 * _WINDOW_UNITS["d"]
_WINDOW = re.compile(r"([1-9][0-9]{0,6})([smhdw])")
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9}))?"
    r"([Zz]|[+-]\d{2}:?\d{2})"
)

IsoTime = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="ISO 8601 in UTC",
        examples=["2026-01-15T03:10:00Z"],
    ),
]


class InvalidParameter(ValueError):
    """A query parameter that cannot be used; the message says what would be right."""


# -- responses ------------------------------------------------------------------------------


class Reading(BaseModel):
    """One value of one quantity at one time (or one window's aggregate)."""

    time: IsoTime = Field(
        description="When it was measured (the network server's receive time), or the start "
        "of the window when aggregated. ISO 8601, UTC.",
        examples=["2026-01-15T03:10:00Z"],
    )
    quantity: str = Field(
        description="Canonical quantity name (see docs/decoders.md).",
        examples=["road_surface_temperature"],
    )
    value: float | int | None = Field(
        description="In the quantity's unit. A count when aggregated with `count`. "
        "null only for an invalid reading whose value was not a number.",
        examples=[-1.25],
    )
    unit: str | None = Field(description="The quantity's unit.", examples=["°C"])
    valid: bool = Field(
        default=True,
        description="false for a reading the plausibility rules rejected "
        "(only returned with include_invalid=true).",
        examples=[True],
    )
    reason: str | None = Field(
        default=None,
        description="Why an invalid reading was rejected; null when valid.",
        examples=[None],
    )


class ReadingsPage(BaseModel):
    """One page of a device's readings, oldest first."""

    device_id: str = Field(examples=["rst-a38-01"])
    start: IsoTime = Field(description="Start of the range (inclusive).")
    end: IsoTime = Field(description="End of the range (exclusive).")
    quantity: str | None = Field(
        description="The quantity asked for; null for all.", examples=["road_surface_temperature"]
    )
    window: str | None = Field(
        description="Aggregation window (`15m`, `1h`, `1d`); null for raw readings.",
        examples=["15m"],
    )
    function: AggregateFunction | None = Field(
        description="Aggregate per window; null for raw readings.", examples=["mean"]
    )
    readings: list[Reading]
    next: str | None = Field(
        description="Pass as `cursor=` for the next page (also in the `Link` header); "
        "null on the last page.",
        examples=["MTc2ODQ0NjcwMDAwMDAwMDAwMDox"],
    )


class DeviceLatest(BaseModel):
    """A device's newest reading: every quantity it reported in its latest uplink."""

    device_id: str = Field(examples=["rst-a38-01"])
    name: str | None = Field(examples=["A38 Carr Lane bridge"])
    domain: str | None = Field(description="road, air, water or other.", examples=["road"])
    route: str | None = Field(description="Gritting route, for road sensors.", examples=["a38"])
    site: str | None = Field(examples=[None])
    time: IsoTime | None = Field(description="When; null when it has sent nothing yet.")
    readings: list[Reading]


class LatestReadings(BaseModel):
    """The newest reading of each device, ordered by device id."""

    devices: list[DeviceLatest]


class Location(BaseModel):
    latitude: float = Field(ge=-90, le=90, examples=[52.9548])
    longitude: float = Field(ge=-180, le=180, examples=[-1.1581])


class OpenDevice(BaseModel):
    """A public device: who runs it, where it is and what it measures."""

    device_id: str = Field(examples=["aq-school-07"])
    name: str | None = Field(examples=["Greenfield Primary, playground"])
    domain: str = Field(description="road, air, water or other.", examples=["air"])
    owner: str | None = Field(description="Who runs it.", examples=["Greenfield Primary"])
    location: Location | None = Field(description="Where it is; null when not recorded.")
    quantities: list[str] = Field(
        description="Quantities in its latest reading.",
        examples=[["air_temperature", "relative_humidity", "pm2_5"]],
    )
    latest_reading_at: IsoTime | None = Field(
        description="Time of its latest reading; null when it has sent nothing yet."
    )


class OpenDevices(BaseModel):
    """Every public device, ordered by device id."""

    devices: list[OpenDevice]


class ReadingsError(BaseModel):
    """What was wrong: a sentence, or FastAPI's list of invalid parameters."""

    detail: str | list[dict[str, Any]] = Field(
        examples=["end (2026-01-14T00:00:00Z) must be after start (2026-01-15T00:00:00Z)"]
    )


# -- times, windows, quantities, cursors -------------------------------------------------------


@lru_cache(maxsize=16_384)  # the readings of one uplink, and latest answers, repeat times
def format_time(time_ns: int) -> str:
    """ISO 8601 UTC with `Z`; fraction digits only as many as the time needs (up to 9)."""
    seconds, fraction = divmod(time_ns, SECOND_NS)
    text = (EPOCH + timedelta(seconds=seconds)).isoformat()
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def parse_time(name: str, text: str) -> int:
    """Nanoseconds since the epoch from ISO 8601 with a time zone (`Z` or `+01:00`)."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise InvalidParameter(
            f"{name} {text!r} is not an ISO 8601 time with a time zone: "
            "use e.g. 2026-01-15T03:00:00Z or 2026-01-15T03:00:00+00:00"
        )
    date, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}{zone}")
        utc = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise InvalidParameter(f"{name} {text!r} is not a real time: {exc}") from exc
    seconds = (utc - EPOCH) // timedelta(seconds=1)
    time_ns = seconds * SECOND_NS + int((fraction or "0").ljust(9, "0"))
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        raise InvalidParameter(
            f"{name} {text!r} is outside the times a store can hold (1677-09-21 to 2262-04-11)"
        )
    return time_ns


def parse_window(text: str) -> int:
    """A window such as `15m`, `1h` or `1d` in nanoseconds."""
    match = _WINDOW.fullmatch(text.strip())
    if match is None:
        raise InvalidParameter(
            f"window {text!r} is not a duration: use a whole number and a unit, "
            "s (seconds), m (minutes), h (hours), d (days) or w (weeks), e.g. 15m or 1h"
        )
    window_ns = int(match.group(1)) * _WINDOW_UNITS[match.group(2)]
    if not MIN_WINDOW_NS <= window_ns <= MAX_WINDOW_NS:
        raise InvalidParameter(f"window {text!r} must be between 1s and 366d")
    return window_ns


def check_window_count(window: str, window_ns: int, start_ns: int, end_ns: int) -> None:
    """Refuse a range that would need more than MAX_WINDOWS windows, naming a window that fits."""
    windows = -(-(end_ns - start_ns) // window_ns) + 1  # the first may start before `start`
    if windows <= MAX_WINDOWS:
        return
    smallest = -(-(end_ns - start_ns) // (MAX_WINDOWS - 1))
    raise InvalidParameter(
        f"window {window} is too small for this range: it makes {windows:,} windows, at most "
        f"{MAX_WINDOWS:,} are allowed; use a window of at least {describe_ns(smallest)} "
        "or a shorter range"
    )


def describe_ns(duration_ns: int) -> str:
    """The smallest whole window in the largest unit that is at least `duration_ns`."""
    for unit, size in sorted(_WINDOW_UNITS.items(), key=lambda item: -item[1]):
        if duration_ns >= size:
            return f"{-(-duration_ns // size)}{unit}"
    return "1s"


def parse_quantity(text: str) -> str:
    if text in QUANTITIES:
        return text
    close = difflib.get_close_matches(text, list(QUANTITIES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidParameter(
        f"unknown quantity {text!r}{hint}. Known quantities: {', '.join(sorted(QUANTITIES))}"
    )


def unit_of(quantity: str) -> str | None:
    known = QUANTITIES.get(quantity)
    return known.unit if known is not None else None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the last time shown and how many rows at that time were shown."""

    time_ns: int
    shown_at_time: int

    def encode(self) -> str:
        text = f"1:{self.time_ns}:{self.shown_at_time}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        problem = InvalidParameter(
            "cursor is not one this API gave out: pass the `next` value of the previous page "
            "unchanged, or leave cursor out to start from the beginning"
        )
        if len(token) > 100:
            raise problem
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            version, time_text, shown_text = text.split(":")
            time_ns, shown = int(time_text), int(shown_text)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise problem from exc
        if version != "1" or shown < 1 or not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
            raise problem
        return cls(time_ns, shown)

"""Round tick positions for charts: whole hours (UTC) on the time axis, 1-2-5 steps for values.

Kept apart from the SVG drawing because it is arithmetic with edge cases of its own
(a ten-minute window, a month, a flat line) and is easiest to test on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_TIME_TICKS = 6
"""Six 'HH:MM' labels fit across a phone-width chart without touching."""
MAX_VALUE_TICKS = 6

_MINUTE = 60
_HOUR = 3600
_DAY = 86400
TIME_STEPS_S = (
    5 * _MINUTE,
    10 * _MINUTE,
    15 * _MINUTE,
    30 * _MINUTE,
    _HOUR,
    2 * _HOUR,
    3 * _HOUR,
    6 * _HOUR,
    12 * _HOUR,
    _DAY,
    2 * _DAY,
    7 * _DAY,
    14 * _DAY,
    28 * _DAY,
)
"""Steps that divide a day (or are whole days), so ticks land on round UTC clock times."""


@dataclass(frozen=True, slots=True)
class TimeTick:
    at: datetime
    label: str


def time_ticks(start: datetime, end: datetime) -> list[TimeTick]:
    """Ticks on round UTC times between `start` and `end` (aware datetimes), at most six.

    Within a day the labels are 'HH:MM', and a tick at midnight names the date instead,
    so a 24-hour chart says which night it shows.
    """
    first, last = start.timestamp(), end.timestamp()
    span = max(last - first, 1.0)
    step = next((s for s in TIME_STEPS_S if span / s <= MAX_TIME_TICKS), None)
    if step is None:
        step = math.ceil(span / MAX_TIME_TICKS / _DAY) * _DAY
    tick = math.ceil(first / step) * step
    ticks: list[TimeTick] = []
    while tick <= last:
        moment = datetime.fromtimestamp(tick, UTC)
        ticks.append(TimeTick(moment, _time_label(moment, step)))
        tick += step
    return ticks


def _time_label(moment: datetime, step: int) -> str:
    if step >= _DAY or (moment.hour == 0 and moment.minute == 0):
        return f"{moment.day} {moment:%b}"
    return f"{moment:%H:%M}"


def value_ticks(low: float, high: float) -> list[float]:
    """Evenly spaced round values (steps of 1, 2 or 5 × 10ⁿ) covering `low`..`high`."""
    if high < low:
        low, high = high, low
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    raw = (high - low) / (MAX_VALUE_TICKS - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    count = round((last - first) / step)
    decimals = max(0, -math.floor(math.log10(step))) + 1
    return [round(first + i * step, decimals) for i in range(count + 1)]

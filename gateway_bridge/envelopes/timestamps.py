"""RFC 3339 timestamps to exact integer nanoseconds.

Network servers write nanosecond timestamps (`2026-01-15T03:12:45.123456789Z`).
Python's `datetime` keeps microseconds only, and a float of nanoseconds since
1970 loses the last digits, so the fraction is read here as an integer. Exact
nanoseconds matter: a redelivered uplink must map to the very same point so the
store overwrites it instead of adding a near-duplicate.
"""

import re
from datetime import date

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NS_PER_S = 1_000_000_000


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the Unix epoch for an RFC 3339 timestamp.

    Accepts 0–9 fraction digits (more are truncated to the nanosecond) and a
    `Z` or `±HH:MM` offset. Raises `ValueError` saying what is wrong otherwise.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text[:64]!r} is not an RFC 3339 timestamp like 2026-01-15T03:12:45.123456789Z"
        )
    year, month, day, hour, minute, second, fraction, _, sign, offset_h, offset_m = match.groups()
    try:
        # date() checks the calendar (month 13, 30 February) for us.
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise ValueError(f"{text[:64]!r} is not a valid date: {exc}") from None
    hours, minutes, seconds = int(hour), int(minute), int(second)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{text[:64]!r} is not a valid time of day")
    seconds += days * 86_400 + hours * 3_600 + minutes * 60
    if sign is not None:
        if offset_h > "23" or offset_m > "59":
            raise ValueError(f"{text[:64]!r} has an impossible UTC offset")
        offset = int(offset_h) * 3_600 + int(offset_m) * 60
        seconds -= offset if sign == "+" else -offset
    if fraction is None:
        return seconds * _NS_PER_S
    return seconds * _NS_PER_S + int(fraction[:9].ljust(9, "0"))

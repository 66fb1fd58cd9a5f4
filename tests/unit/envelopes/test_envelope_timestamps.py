"""RFC 3339 timestamps to exact nanoseconds, beyond what `datetime` can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_bridge.envelopes.timestamps import parse_rfc3339_ns

BASE = 1_768_446_765  # 2026-01-15T03:12:45Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-15T03:12:45.123456789Z", BASE * 10**9 + 123_456_789),
        ("2026-01-15T03:12:45.000000001Z", BASE * 10**9 + 1),
        ("2026-01-15T03:12:45.999999999Z", BASE * 10**9 + 999_999_999),
        ("2026-01-15T03:12:45Z", BASE * 10**9),
        ("2026-01-15T03:12:45.5Z", BASE * 10**9 + 500_000_000),
        ("2026-01-15T03:12:45.123Z", BASE * 10**9 + 123_000_000),
        ("2026-01-15T03:12:45.123456Z", BASE * 10**9 + 123_456_000),
        ("2026-01-15T03:12:45.123456789123Z", BASE * 10**9 + 123_456_789),
        ("2026-01-15t03:12:45.1z", BASE * 10**9 + 100_000_000),
        ("2026-01-15 03:12:45Z", BASE * 10**9),
        ("2026-01-15T03:12:45.123456789+00:00", BASE * 10**9 + 123_456_789),
        ("2026-01-15T04:12:45.123456789+01:00", BASE * 10**9 + 123_456_789),
        ("2026-01-14T21:42:45.000000007-05:30", BASE * 10**9 + 7),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800 * 10**9),
    ],
)
def test_exact_nanoseconds(text: str, expected: int) -> None:
    assert parse_rfc3339_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-01-15",
        "2026-01-15T03:12:45",  # no offset: ambiguous
        "2026-01-15T03:12:45.Z",
        "2026-01-15T03:12:45.123456789ZZ",
        "2026-13-15T03:12:45Z",
        "2026-02-29T03:12:45Z",
        "2026-01-15T24:00:00Z",
        "2026-01-15T03:60:00Z",
        "2026-01-15T03:12:60Z",
        "2026-01-15T03:12:45+24:00",
        "2026-01-15T03:12:45+01:60",
        "٢٠٢٦-01-15T03:12:45Z",  # Arabic-Indic digits are digits to Python, not to RFC 3339
        "1768446765",
    ],
)
def test_not_timestamps(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339_ns(text)


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    extra_nanos=st.integers(min_value=0, max_value=999),
    offset_minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_agrees_with_datetime_to_the_microsecond_and_keeps_the_nanoseconds(
    moment: datetime, extra_nanos: int, offset_minutes: int
) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}{extra_nanos:03d}"
    text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert parse_rfc3339_ns(text) == micros * 1000 + extra_nanos

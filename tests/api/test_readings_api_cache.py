"""The list cache (fresh for `ttl`, then served stale while one refresh runs), and the pure
parts of the readings API: times, cursors, content negotiation, CSV cells."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.csv_responses import csv_text, wants_csv
from api.readings_cache import TimedCache
from api.schemas.readings import Cursor, format_time, parse_time
from storage.line_protocol import MAX_TIME_NS, MIN_TIME_NS


class Counter:
    """A computation that counts its calls and can be made to wait or fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.release.set()
        self.fail = False

    def __call__(self) -> int:
        self.calls += 1
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("store down")
        return self.calls


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_fresh_value_is_served_without_computing_again() -> None:
    now = [0.0]
    cache: TimedCache[int] = TimedCache(2.0, clock=lambda: now[0])
    compute = Counter()

    assert [cache.get("k", compute) for _ in range(5)] == [1] * 5
    now[0] = 1.99
    assert cache.get("k", compute) == 1
    assert cache.get("other", compute) == 2
    assert compute.calls == 2


def test_a_stale_value_is_served_while_one_refresh_runs() -> None:
    now = [0.0]
    cache: TimedCache[int] = TimedCache(2.0, clock=lambda: now[0])
    compute = Counter()
    cache.get("k", compute)
    compute.release.clear()  # the refresh will hang until released
    now[0] = 2.0

    answers = [cache.get("k", compute) for _ in range(20)]

    assert answers == [1] * 20
    wait_until(lambda: compute.calls == 2)
    compute.release.set()
    wait_until(lambda: cache.get("k", compute) == 2)
    assert compute.calls == 2  # twenty stale reads started one refresh


def test_a_failed_refresh_keeps_the_stale_value_until_max_stale() -> None:
    now = [0.0]
    cache: TimedCache[int] = TimedCache(2.0, max_stale=30.0, clock=lambda: now[0])
    compute = Counter()
    cache.get("k", compute)
    compute.fail = True
    now[0] = 5.0

    assert cache.get("k", compute) == 1
    wait_until(lambda: compute.calls == 2)
    now[0] = 30.0
    with pytest.raises(RuntimeError, match="store down"):
        cache.get("k", compute)  # too old to serve: the caller hears about the failure


def test_concurrent_first_calls_compute_once() -> None:
    cache: TimedCache[int] = TimedCache(2.0)
    compute = Counter()
    compute.release.clear()
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get("k", compute))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: compute.calls == 1)
    compute.release.set()
    for thread in threads:
        thread.join(10)

    assert answers == [1] * 8
    assert compute.calls == 1


def test_ttl_zero_computes_every_time_and_entries_are_bounded() -> None:
    compute = Counter()
    uncached: TimedCache[int] = TimedCache(0)
    assert [uncached.get("k", compute) for _ in range(3)] == [1, 2, 3]

    now = [0.0]
    bounded: TimedCache[int] = TimedCache(60.0, max_entries=2, clock=lambda: now[0])
    for key in ("a", "b", "c"):
        now[0] += 1
        bounded.get(key, compute)
    calls = compute.calls
    bounded.get("a", compute)  # "a" was the oldest: dropped, so computed again
    bounded.get("c", compute)
    assert compute.calls == calls + 1


# -- the pure parts: times, cursors, negotiation, CSV cells ----------------------------------


@given(st.integers(min_value=MIN_TIME_NS, max_value=MAX_TIME_NS))
def test_every_time_a_store_holds_prints_and_parses_back_exactly(time_ns: int) -> None:
    text = format_time(time_ns)

    assert text.endswith("Z")
    assert parse_time("start", text) == time_ns


@given(st.integers(min_value=MIN_TIME_NS, max_value=MAX_TIME_NS), st.integers(1, 10**6))
def test_cursors_round_trip(time_ns: int, shown: int) -> None:
    assert Cursor.decode(Cursor(time_ns, shown).encode()) == Cursor(time_ns, shown)


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        ("text/csv", True),
        ("text/csv;q=0.9, application/json;q=0.5", True),
        ("application/json, text/csv;q=0.5", False),
        ("text/csv;q=0", False),
        ("text/csv;q=banana", False),
        ("*/*", False),
        ("", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
    ],
)
def test_accept_header_negotiation(accept: str, csv: bool) -> None:
    request = Request({"type": "http", "headers": [(b"accept", accept.encode())]})

    assert wants_csv(request, None) is csv
    assert wants_csv(request, "json") is False
    assert wants_csv(request, "csv") is True


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    assert csv_text(["a", "b"], [["=1+2", -1.5], ["@SUM(A1)", None], ["ok", True]]) == (
        "a,b\r\n'=1+2,-1.5\r\n'@SUM(A1),\r\nok,true\r\n"
    )

"""The list cache: fresh for `ttl`, then served stale while one background refresh runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from api.readings_cache import TimedCache


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

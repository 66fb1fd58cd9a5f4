"""The demo's data clock and where its night is placed: in the past, ending about now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wherry.demo.clock import NS, WALL_LAG_NS, DemoClock
from wherry.demo.story import DUSK, HISTORY, STORY_FROM, STORY_SPAN, place_night

WALL_START_NS = 1_800_000_000 * NS


class Clocks:
    """A wall clock and a monotonic clock that only move when told to."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def wall_ns(self) -> int:
        return WALL_START_NS + int(self.elapsed * NS)

    def monotonic(self) -> float:
        return 100.0 + self.elapsed


def night_clock(clocks: Clocks, span_s: float, speed: float) -> DemoClock:
    return DemoClock(
        WALL_START_NS - int(span_s * NS),
        speed,
        wall_ns=clocks.wall_ns,
        monotonic=clocks.monotonic,
    )


def test_the_clock_waits_at_its_start_until_started() -> None:
    clocks = Clocks()
    clock = night_clock(clocks, 3600, 600)
    clocks.elapsed = 5
    assert clock.now_ns() == clock.start_ns
    assert not clock.caught_up()


def test_it_runs_speed_times_faster_then_follows_the_wall_clock() -> None:
    clocks = Clocks()
    clock = night_clock(clocks, span_s=8 * 3600, speed=600)
    clock.start()
    clocks.elapsed = 10
    assert clock.now_ns() == clock.start_ns + 6000 * NS
    assert not clock.caught_up()
    assert clock.real_seconds_until(clock.now_ns() + 600 * NS) == pytest.approx(1.0)
    clocks.elapsed = 60  # 8 simulated hours take 48 s: caught up by now
    assert clock.now_ns() == clocks.wall_ns() - WALL_LAG_NS
    assert clock.caught_up()
    assert clock.real_seconds_until(clock.now_ns() + 30 * NS) == pytest.approx(30.0)
    clocks.elapsed = 3600
    assert clock.now_ns() == clocks.wall_ns() - WALL_LAG_NS, "never ahead of the wall clock"


def test_the_engine_clock_runs_behind_by_real_seconds() -> None:
    clocks = Clocks()
    clock = night_clock(clocks, span_s=8 * 3600, speed=600)
    engine = clock.engine_clock(2.0)
    assert engine() == clock.start_ns
    clock.start()
    clocks.elapsed = 1.0
    assert engine() == clock.start_ns, "no earlier than the start"
    clocks.elapsed = 12.0
    assert engine() == clock.now_ns() - 1200 * NS


def test_an_uncapped_clock_runs_past_the_wall_clock() -> None:
    clocks = Clocks()
    clock = DemoClock(
        WALL_START_NS, 600, cap_at_wall=False, wall_ns=clocks.wall_ns, monotonic=clocks.monotonic
    )
    clock.start()
    clocks.elapsed = 1
    assert clock.now_ns() == WALL_START_NS + 600 * NS
    assert not clock.caught_up()


@pytest.mark.parametrize("speed", [0.0, -600.0])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        DemoClock(0, speed)


@pytest.mark.parametrize("hour", [0, 3, 9, 14, 17, 18, 23])
def test_the_night_ends_now_with_dusk_at_six_on_its_own_clock(hour: int) -> None:
    zone = timezone(timedelta(hours=1))
    now = datetime(2026, 11, 22, hour, 7, 30, tzinfo=zone)
    night = place_night(now)
    assert night.live_from == now
    assert night.story_from == now - STORY_SPAN
    assert night.history_from == night.story_from - HISTORY
    told = night.story_time(night.story_from)
    assert (told.hour, told.minute, told.second) == (STORY_FROM.hour, STORY_FROM.minute, 0)
    assert timedelta(0) <= night.physics_shift < timedelta(days=1)
    dusk = night.story_time(night.dusk)
    assert (dusk.hour, dusk.minute) == (DUSK.hour, DUSK.minute)
    assert night.live_from.astimezone(UTC) <= now.astimezone(UTC)

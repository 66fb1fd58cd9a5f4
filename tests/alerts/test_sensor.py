"""One road sensor's state: GRITTING.md's table, hysteresis, the jump filter and silence."""

import itertools

import numpy as np
import pytest

from alerts.model import SensorState
from alerts.policy import GrittingPolicy
from alerts.route import local_hhmm
from alerts.sensor import MAX_READINGS, SensorTracker

MINUTE = 60_000_000_000
T0 = 1_768_400_000 * 1_000_000_000  # a January evening


def at(minute: float) -> int:
    return T0 + round(minute * MINUTE)


def tracker_with(
    temps: list[float], *, every: int = 10, policy: GrittingPolicy | None = None
) -> SensorTracker:
    tracker = SensorTracker("rst-1", policy or GrittingPolicy())
    for i, temp in enumerate(temps):
        assert tracker.add_reading(at(i * every), temp) is None
    return tracker


def last_minute(temps: list[float], every: int = 10) -> int:
    return at((len(temps) - 1) * every)


def states_along(
    temps: list[float], *, every: int = 10, policy: GrittingPolicy | None = None
) -> list[SensorState]:
    """The state after each reading, as the engine would see it."""
    tracker = SensorTracker("rst-1", policy or GrittingPolicy())
    states = []
    for i, temp in enumerate(temps):
        tracker.add_reading(at(i * every), temp)
        states.append(tracker.status(at(i * every)).state)
    return states


@pytest.mark.parametrize(
    ("temps", "dew_point", "state", "rule"),
    [
        ([4.0, 4.0, 4.0, 4.0, 4.0], None, SensorState.CLEAR, "forecasts no lower than +4.0 °C"),
        ([4.0], None, SensorState.CLEAR, "too few readings for a forecast"),
        ([1.0], None, SensorState.MARGINAL, "RST +1.0 °C at or below +1.0 °C"),
        ([3.4, 3.1, 2.8, 2.5, 2.2], None, SensorState.MARGINAL, "trend line forecasts"),
        ([-0.2], None, SensorState.FREEZING, "at or below 0.0 °C (dew point unknown)"),
        ([-0.2], -1.0, SensorState.FREEZING, "(dew point -1.0 °C)"),
        ([-0.2], -0.1, SensorState.ICE_LIKELY, "at or below the dew point -0.1 °C: frost likely"),
        ([0.0], 0.0, SensorState.ICE_LIKELY, "frost likely"),
    ],
)
def test_the_state_follows_gritting_md_s_table(
    temps: list[float], dew_point: float | None, state: SensorState, rule: str
) -> None:
    tracker = tracker_with(temps)
    now = last_minute(temps)
    dew = None if dew_point is None else (now, dew_point)

    status = tracker.status(now, route_dew_point=dew)

    assert status.state is state
    assert rule in status.reason
    assert status.latest_c == temps[-1] and status.latest_at_ns == now


def test_a_wet_surface_at_zero_is_ice_likely_without_a_dew_point() -> None:
    tracker = tracker_with([-0.3])
    tracker.set_surface_wet(at(0), True)

    status = tracker.status(at(0))

    assert status.state is SensorState.ICE_LIKELY
    assert status.surface_wet is True
    assert "on a wet surface: ice likely" in status.reason


def test_the_sensor_s_own_dew_point_wins_over_the_route_s() -> None:
    tracker = tracker_with([-0.3])
    tracker.set_dew_point(at(0), -0.1)

    status = tracker.status(at(0), route_dew_point=(at(0), -2.0))

    assert status.dew_point_c == -0.1 and status.state is SensorState.ICE_LIKELY


def test_a_stale_dew_point_is_not_used() -> None:
    tracker = tracker_with([-0.3, -0.3, -0.3, -0.3, -0.3, -0.3])

    status = tracker.status(at(50), route_dew_point=(at(0), 0.5))

    assert status.dew_point_c is None and status.state is SensorState.FREEZING


def test_freezing_is_left_only_after_30_min_at_or_above_half_a_degree() -> None:
    temps = [-0.5, 0.6, 0.7, 0.6, 0.7, 0.8]

    states = states_along(temps)

    assert states == [SensorState.FREEZING] * 4 + [SensorState.MARGINAL] * 2
    # 0.6 at minute 10; 30 min later, at minute 40, the state may warm


def test_a_dip_restarts_the_hysteresis_clock() -> None:
    temps = [-0.5, 0.6, 0.7, 0.4, 0.7, 0.8, 0.7, 0.9]

    states = states_along(temps)

    assert states[:7] == [SensorState.FREEZING] * 7
    assert states[7] is SensorState.MARGINAL


def test_ice_likely_stays_until_the_surface_warms_not_when_the_air_dries() -> None:
    tracker = tracker_with([-0.4])
    assert tracker.status(at(0), route_dew_point=(at(0), 0.0)).state is SensorState.ICE_LIKELY

    tracker.add_reading(at(10), -0.4)
    status = tracker.status(at(10), route_dew_point=(at(10), -3.0))

    assert status.state is SensorState.ICE_LIKELY
    assert "held at ICE_LIKELY until RST stays at or above +0.5 °C for 30 min" in status.reason


def test_marginal_is_left_only_after_30_min_at_or_above_1_5_with_a_clear_forecast() -> None:
    temps = [0.9, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]

    states = states_along(temps)

    assert states == [SensorState.MARGINAL] * 4 + [SensorState.CLEAR] * 3


def test_noise_around_a_threshold_does_not_flap() -> None:
    rng = np.random.default_rng(5)
    temps = list(np.round(1.0 + rng.normal(0, 0.3, 120), 2))  # 20 h of noise around +1 °C

    states = states_along(temps)

    changes = sum(1 for a, b in itertools.pairwise(states) if a is not b)
    assert changes <= 2


def test_a_single_jump_is_invalid_and_decides_nothing() -> None:
    tracker = tracker_with([3.0, 3.0, 3.0, 3.0])

    rejected = tracker.add_reading(at(40), -17.0)

    assert rejected is not None
    assert rejected.reason == (
        "jump of -20.0 °C in 10 min from +3.0 °C (a road surface changes at most 1.5 °C/min)"
    )
    status = tracker.status(at(40))
    assert status.state is SensorState.CLEAR and status.latest_c == 3.0
    assert tracker.add_reading(at(50), 3.1) is None
    assert tracker.status(at(50)).latest_c == 3.1
    assert tracker.recent_invalid[-1].value_c == -17.0


def test_a_jump_that_stays_is_a_new_level_after_two_readings() -> None:
    tracker = tracker_with([3.0, 3.0, 3.0, 3.0], every=1)

    assert tracker.add_reading(at(4), -3.0) is not None
    assert tracker.add_reading(at(5), -3.1) is None

    assert tracker.status(at(5)).state is SensorState.FREEZING


def test_a_change_the_surface_can_make_is_not_a_jump() -> None:
    tracker = tracker_with([3.0])

    assert tracker.add_reading(at(10), -3.0) is None  # 6 °C in 10 min: 0.6 °C/min


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_reading_that_is_not_a_number_is_invalid(value: float) -> None:
    tracker = tracker_with([3.0])

    rejected = tracker.add_reading(at(10), value)

    assert rejected is not None and rejected.reason == "not a number"


def test_a_late_reading_does_not_rewrite_the_present() -> None:
    tracker = tracker_with([3.0, 2.0])

    assert tracker.add_reading(at(10), 2.0) is None  # the same uplink again
    rejected = tracker.add_reading(at(5), -4.0)

    assert rejected is not None and "out of order" in rejected.reason
    assert tracker.status(at(10)).latest_c == 2.0


def test_flagged_readings_never_decide_and_the_sensor_falls_silent() -> None:
    tracker = tracker_with([3.0])
    for minute in range(10, 60, 10):
        tracker.add_flagged(at(minute), "probe error code 85.0")

    assert tracker.status(at(45)).state is SensorState.CLEAR  # 45 min: not longer than the window
    status = tracker.status(at(46))
    assert status.state is SensorState.UNKNOWN
    assert status.reason == (
        "no valid reading for 46 min (silence window 45 min); "
        "latest reading invalid: probe error code 85.0"
    )
    assert tracker.is_silent(at(46)) and not tracker.is_silent(at(45))


def test_a_sensor_never_heard_is_silent_only_a_window_after_watching_began() -> None:
    tracker = SensorTracker("rst-1", GrittingPolicy(), created_at_ns=at(0))

    assert tracker.status(at(10)).state is SensorState.UNKNOWN
    assert tracker.status(at(10)).reason == "no reading has arrived yet"
    assert not tracker.is_silent(at(45))
    assert tracker.is_silent(at(46))


def test_a_sensor_back_from_silence_keeps_its_cold_state_until_it_proves_warm() -> None:
    tracker = tracker_with([-1.0])
    assert tracker.status(at(60)).state is SensorState.UNKNOWN

    tracker.add_reading(at(120), 3.0)

    assert tracker.status(at(120)).state is SensorState.FREEZING


def test_memory_is_bounded_by_the_trend_window() -> None:
    tracker = tracker_with([2.0 + 0.001 * i for i in range(2000)], every=1)

    status = tracker.status(at(1999))

    assert status.prediction is not None and status.prediction.points_used <= 121
    assert len(tracker._readings) <= min(MAX_READINGS, 121)


def test_a_new_policy_rejudges_the_same_readings() -> None:
    tracker = tracker_with([1.3])
    assert tracker.status(at(0)).state is SensorState.CLEAR

    tracker.set_policy(GrittingPolicy(marginal_threshold_c=1.5))

    assert tracker.status(at(0)).state is SensorState.MARGINAL


# -- TREAT ahead of frost ---------------------------------------------------------------------

TABLE_ONLY = GrittingPolicy(treat_when_forecast_at_or_below_c=None)


def calls_along(temps: list[float], *, policy: GrittingPolicy | None = None) -> list[bool]:
    """Whether the sensor calls TREAT after each reading (every 10 min)."""
    tracker = SensorTracker("rst-1", policy or GrittingPolicy())
    calls = []
    for i, temp in enumerate(temps):
        tracker.add_reading(at(i * 10), temp)
        tracker.status(at(i * 10))
        calls.append(tracker.treat_ahead is not None)
    return calls


def test_a_straight_line_calls_treat_only_from_what_it_says_an_hour_ahead() -> None:
    line = [3.0 - 0.25 * i for i in range(9)]  # 1.5 °C/h: +2.0 °C at 40 min, +1.5 °C at 60 min

    states = states_along(line)
    calls = calls_along(line)

    assert states[4] is SensorState.MARGINAL  # the 3 h line says -2.5 °C at +2.0 °C…
    assert calls.index(True) == 6  # …but TREAT waits until it says 0 °C within the hour
    assert all(calls[6:])
    assert not any(calls_along(line, policy=TABLE_ONLY))


def test_a_cooling_curve_calls_treat_from_what_it_says_two_hours_ahead() -> None:
    # Towards -1 °C with a 2 h time constant from +6 °C: 0 °C after 3 h 53 min.
    curve = [-1.0 + 7.0 * float(np.exp(-0.5 * i / 6)) for i in range(16)]
    tracker = SensorTracker("rst-1", GrittingPolicy())
    first_call = None
    for i, temp in enumerate(curve):
        tracker.add_reading(at(i * 10), temp)
        status = tracker.status(at(i * 10))
        if first_call is None and tracker.treat_ahead is not None:
            first_call = i * 10
            call = tracker.treat_ahead
            assert call.forecast is not None and call.forecast.model == "newton"
            assert call.forecast.minimum_c is not None and call.forecast.minimum_c <= 0.0
            assert status.state is SensorState.MARGINAL
            assert "calls TREAT ahead of frost" in status.reason
    assert first_call == 120  # 1 h 53 min before the first 0 °C; the 3 h curve said so at 60


def test_a_forecast_stands_through_a_warm_spell_until_its_time_then_the_sensor_clears() -> None:
    cooling = [3.0 - 0.25 * i for i in range(7)]  # TREAT called at minute 60, at +1.5 °C
    warm_spell = [2.0, 2.5] + [3.0] * 18  # minutes 70 to 260: warming under cloud
    tracker = SensorTracker("rst-1", GrittingPolicy())
    seen = []
    for i, temp in enumerate(cooling + warm_spell):
        tracker.add_reading(at(i * 10), temp)
        seen.append((tracker.status(at(i * 10)), tracker.treat_ahead))

    call = seen[6][1]
    assert call is not None and call.forecast is not None
    assert call.forecast.minimum_at_ns == at(120)  # frost within the line's trusted hour
    last_forecast = seen[8][0]  # minute 80, +2.5 °C: the line still forecasts +0.5 °C
    assert last_forecast.prediction is not None
    assert last_forecast.prediction.minimum_at_ns == at(260)
    for status, held_call in seen[7:26]:  # minutes 70 to 250
        assert status.state is SensorState.MARGINAL and held_call is call
    assert f"held at MARGINAL until its forecast for {local_hhmm(at(260))} has passed;" in (
        seen[20][0].reason  # minute 200: RST has stayed above +1.5 °C long enough
    )
    assert seen[26][0].state is SensorState.CLEAR and seen[26][1] is None


def test_after_a_freeze_the_sensor_calls_treat_until_it_is_clear() -> None:
    temps = [-0.5, 0.6, 0.7, 0.6, 0.7, 0.8, 0.9, 2.0, 2.0, 2.0, 2.0]

    states = states_along(temps)
    calls = calls_along(temps)

    assert states[4:7] == [SensorState.MARGINAL] * 3
    assert calls[:7] == [True] * 7  # MARGINAL after FREEZING still calls TREAT
    assert states[-1] is SensorState.CLEAR and calls[-1] is False
    assert not any(calls_along(temps, policy=TABLE_ONLY))  # GRITTING.md: MARGINAL → MONITOR

"""Whole generated nights through the engine: what a duty officer would have been told, and when.

Each night runs 14:00 to 10:00 with a reading every 10 min (see `nights.py`); the clock
advances every minute between uplinks, as a replay does. Lead times are measured from the
first decision to the first *reading* at or below the level that matters.
"""

import numpy as np
import pytest

from alerts.gritting import GrittingEngine, RoutePlan
from alerts.model import Recommendation, RouteDecision, SensorState
from alerts.policy import GrittingPolicy
from alerts.prediction import predict
from tests.alerts.nights import (
    NS_PER_MINUTE,
    Night,
    Site,
    at_minute,
    finish,
    first,
    observations,
    recommendation_changes,
    replay,
)

FROSTY = Night(start_c=7.0, afternoon_c=4.0, night_c=-4.0, night_k=0.35)
MARGINAL = Night(start_c=7.0, afternoon_c=5.0, night_c=0.3, night_k=0.3)
MILD_STEEP_EVENING = Night(start_c=10.0, afternoon_c=8.0, night_c=3.5, night_k=0.6)
CLOUD_BUMP = Night(night_c=-4.0, cloud=(420, 540, 4.0))  # cloud 21:00 to 23:00
SEEDS = range(5)
PRECAUTIONARY = GrittingPolicy(precautionary=True)
TABLE_ONLY = GrittingPolicy(treat_when_forecast_at_or_below_c=None)  # GRITTING.md's table


def run(
    nights: dict[str, Night],
    site: Site | None = None,
    policy: GrittingPolicy | None = None,
    spikes: dict[str, dict[int, float]] | None = None,
) -> tuple[GrittingEngine, list[RouteDecision]]:
    site = site or Site(road_sensors=tuple(nights))
    engine = GrittingEngine(
        [RoutePlan(site.route_id, policy or GrittingPolicy(), frozenset(site.road_sensors))]
    )
    changes = replay(engine, observations(nights, site, spikes=spikes))
    finish(engine, changes, 1200)
    return engine, changes


def lead_minutes(decision: RouteDecision | None, reading_at_ns: int | None) -> float:
    assert decision is not None and reading_at_ns is not None
    return (reading_at_ns - decision.at_ns) / NS_PER_MINUTE


def in_night(changes: list[RouteDecision], until_minute: int = 1050) -> list[RouteDecision]:
    """Decisions from 14:00 up to sunrise (07:30 by default)."""
    return [d for d in changes if d.at_ns <= at_minute(until_minute)]


def calls(changes: list[RouteDecision]) -> list[Recommendation]:
    """The recommendations in order, each change once (a state change may keep the call)."""
    result: list[Recommendation] = []
    for decision in changes:
        if not result or result[-1] is not decision.recommendation:
            result.append(decision.recommendation)
    return result


@pytest.mark.parametrize("seed", SEEDS)
def test_a_clear_frosty_night_is_treated_at_least_an_hour_before_the_first_frost(seed: int) -> None:
    night = Night(**{**FROSTY.__dict__, "seed": seed})
    first_frost = night.first_at_or_below(0.0)

    _, default = run({"rst-1": night})
    _, precautionary = run({"rst-1": night}, policy=PRECAUTIONARY)

    monitor = first(default, recommendation=Recommendation.MONITOR)
    treat = first(default, recommendation=Recommendation.TREAT)
    assert lead_minutes(monitor, first_frost) >= 90
    assert lead_minutes(treat, first_frost) >= 60  # salt down before the road freezes
    assert treat is not None and treat.state is SensorState.MARGINAL
    assert treat.explanation.startswith("TREAT ahead of frost: rst-1 forecast at ")
    assert "(Newton fit on " in treat.explanation
    assert (
        lead_minutes(first(precautionary, recommendation=Recommendation.TREAT), first_frost) >= 60
    )
    assert calls(in_night(default)) == [
        Recommendation.NO_ACTION,
        Recommendation.MONITOR,
        Recommendation.TREAT,
    ]
    assert recommendation_changes(default) <= 4


@pytest.mark.parametrize("seed", SEEDS)
def test_gritting_md_s_table_alone_treats_only_at_the_first_frost(seed: int) -> None:
    """`treat_when_forecast_at_or_below_c = None`: MARGINAL is MONITOR, exactly as GRITTING.md."""
    night = Night(**{**FROSTY.__dict__, "seed": seed})
    first_frost = night.first_at_or_below(0.0)

    _, changes = run({"rst-1": night}, policy=TABLE_ONLY)

    treat = first(changes, recommendation=Recommendation.TREAT)
    assert treat is not None and treat.at_ns == first_frost
    assert all(
        d.state in (SensorState.FREEZING, SensorState.ICE_LIKELY)
        for d in changes
        if d.recommendation is Recommendation.TREAT
    )
    assert all(
        d.recommendation is Recommendation.MONITOR
        for d in changes
        if d.state is SensorState.MARGINAL
    )
    assert calls(in_night(changes)) == [
        Recommendation.NO_ACTION,
        Recommendation.MONITOR,
        Recommendation.TREAT,
    ]
    assert calls(changes)[-2:] == [Recommendation.MONITOR, Recommendation.NO_ACTION]  # the thaw


@pytest.mark.parametrize("seed", SEEDS)
def test_a_marginal_night_is_monitored_before_it_gets_there_and_not_treated(seed: int) -> None:
    """Forecast to bottom out between 0 and +1 °C: MONITOR (GRITTING.md), no salt."""
    night = Night(**{**MARGINAL.__dict__, "seed": seed})
    first_marginal = night.first_at_or_below(1.0)
    assert night.first_at_or_below(0.0) is None

    _, changes = run({"rst-1": night})

    assert lead_minutes(first(changes, state=SensorState.MARGINAL), first_marginal) >= 60
    assert first(changes, recommendation=Recommendation.TREAT) is None
    assert calls(in_night(changes)) == [Recommendation.NO_ACTION, Recommendation.MONITOR]
    assert recommendation_changes(changes) <= 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_mild_night_with_a_steep_evening_needs_no_action(seed: int) -> None:
    night = Night(**{**MILD_STEEP_EVENING.__dict__, "seed": seed})

    _, default = run({"rst-1": night})
    _, precautionary = run({"rst-1": night}, policy=PRECAUTIONARY)

    assert calls(in_night(default)) == [Recommendation.NO_ACTION]
    assert calls(in_night(precautionary)) == [Recommendation.NO_ACTION]


def test_a_straight_line_would_have_called_the_mild_night_marginal() -> None:
    """Why the Newton curve exists: the 2 h line at 18:00 forecasts frost on a +3.5 °C night."""
    readings = MILD_STEEP_EVENING.readings()
    window = [(t, v) for t, v in readings if at_minute(120) <= t <= at_minute(240)]
    times = np.array([t for t, _ in window])
    temps = np.array([v for _, v in window])
    hours = (times - times[0]) / 3.6e12
    slope, intercept = np.polyfit(hours, temps, 1)

    line_minimum = intercept + slope * (hours[-1] + 3.0)
    curve = predict(times, temps, int(times[-1]), 3 * 3_600_000_000_000)

    assert line_minimum <= 1.0
    assert curve.minimum_c is not None and curve.minimum_c > 1.5
    assert MILD_STEEP_EVENING.truth().min() >= 3.4


def test_a_cloud_bump_does_not_stand_the_gritters_down() -> None:
    first_frost = CLOUD_BUMP.first_at_or_below(0.0)
    refreeze = next(t for t, v in CLOUD_BUMP.readings() if t > at_minute(540) and v <= 0.0)

    _, default = run({"rst-1": CLOUD_BUMP})
    _, precautionary = run({"rst-1": CLOUD_BUMP}, policy=PRECAUTIONARY)
    _, table = run({"rst-1": CLOUD_BUMP}, policy=TABLE_ONLY)

    for changes in (default, precautionary):
        assert lead_minutes(first(changes, recommendation=Recommendation.TREAT), first_frost) >= 60
    assert calls(in_night(precautionary)) == [Recommendation.NO_ACTION, Recommendation.TREAT]
    # By default the TREAT called ahead of the frost holds through the warm spell under the
    # cloud (+1.1 °C at 23:00): salt already down is not called off, then called out again.
    assert calls(in_night(default)) == [
        Recommendation.NO_ACTION,
        Recommendation.MONITOR,
        Recommendation.TREAT,
    ]
    # GRITTING.md's table alone: the warm spell is MONITOR (never NO_ACTION), and the
    # refreeze is TREAT again by its first reading at or below 0 °C.
    assert calls(in_night(table)) == [
        Recommendation.NO_ACTION,
        Recommendation.MONITOR,
        Recommendation.TREAT,
        Recommendation.MONITOR,
        Recommendation.TREAT,
    ]
    treat_again = [d for d in table if d.recommendation is Recommendation.TREAT][-1]
    assert at_minute(540) < treat_again.at_ns <= refreeze


def test_probe_error_codes_and_a_jump_never_decide() -> None:
    spikes = {"rst-1": {300: 85.0, 420: -127.0, 540: -15.0}}  # 19:00, 21:00, 23:00

    _, with_spikes = run({"rst-1": MILD_STEEP_EVENING}, spikes=spikes)
    _, clean = run({"rst-1": MILD_STEEP_EVENING})

    assert calls(in_night(with_spikes)) == [Recommendation.NO_ACTION]
    assert [(d.state, d.recommendation) for d in with_spikes] == [
        (d.state, d.recommendation) for d in clean
    ]


def test_a_jump_filter_is_what_keeps_the_minus_15_reading_out() -> None:
    loose = GrittingPolicy(max_jump_c_per_minute=5.0)

    _, changes = run({"rst-1": MILD_STEEP_EVENING}, policy=loose, spikes={"rst-1": {540: -15.0}})

    assert first(changes, recommendation=Recommendation.TREAT) is not None


def test_one_silent_sensor_is_named_and_the_others_still_decide() -> None:
    site = Site(road_sensors=("rst-1", "rst-2"), silent_from_min={"rst-2": 360})  # from 20:00
    nights = {"rst-1": FROSTY, "rst-2": Night(**{**FROSTY.__dict__, "night_c": -2.0, "seed": 9})}

    engine, changes = run(nights, site)

    went_silent = first(changes, silent=("rst-2",))
    assert went_silent is not None
    assert at_minute(350 + 45) < went_silent.at_ns <= at_minute(350 + 46)
    assert went_silent.state is not SensorState.UNKNOWN
    assert "Silent, their stretch is not watched: rst-2 last valid reading" in (
        went_silent.explanation
    )
    final = engine.decisions()["R1"]
    assert final.deciding_sensor == "rst-1" and final.silent == ("rst-2",)


def test_a_route_whose_sensors_all_fall_silent_is_treated() -> None:
    site = Site(road_sensors=("rst-1", "rst-2"), silent_from_min={"rst-1": 420, "rst-2": 430})
    nights = {"rst-1": MILD_STEEP_EVENING, "rst-2": MILD_STEEP_EVENING}

    _, changes = run(nights, site)

    unknown = first(changes, state=SensorState.UNKNOWN)
    assert unknown is not None
    assert unknown.recommendation is Recommendation.TREAT
    assert at_minute(420 + 45) < unknown.at_ns <= at_minute(420 + 46)  # rst-2 last read at 21:00
    assert "TREAT (fail safe)" in unknown.explanation
    assert unknown.silent == ("rst-1", "rst-2")


def test_frost_with_moisture_is_ice_likely() -> None:
    site = Site(weather_device="weather-1", dew_point_c=-1.0)

    _, changes = run({"rst-1": FROSTY}, site)

    ice = first(changes, state=SensorState.ICE_LIKELY)
    first_below_dew_point = FROSTY.first_at_or_below(-1.0)
    assert ice is not None and first_below_dew_point is not None
    assert ice.at_ns <= first_below_dew_point + 3 * NS_PER_MINUTE
    assert "frost likely" in ice.explanation


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    "night", [FROSTY, MARGINAL, MILD_STEEP_EVENING], ids=["frosty", "marginal", "mild"]
)
@pytest.mark.parametrize("policy", [GrittingPolicy(), TABLE_ONLY], ids=["default", "table"])
def test_noisy_readings_do_not_flap(night: Night, seed: int, policy: GrittingPolicy) -> None:
    noisy = Night(**{**night.__dict__, "noise_c": 0.3, "seed": seed})

    _, changes = run({"rst-1": noisy}, policy=policy)

    assert recommendation_changes(changes) <= 4

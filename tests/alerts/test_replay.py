"""The pure replay: observations through the real gritting engine, judged by one yardstick."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.clock import NS_PER_MINUTE
from alerts.gritting import RoutePlan
from alerts.model import Observation, Recommendation, SensorState
from alerts.policy import GrittingPolicy
from alerts.replay import replay
from alerts.synthetic import RST, NightKind, SyntheticRoute, night

START_NS = int(datetime(2025, 1, 6, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000_000
DEFAULT = GrittingPolicy()
PRECAUTIONARY = GrittingPolicy(precautionary=True)
TABLE_ONLY = GrittingPolicy(treat_when_forecast_at_or_below_c=None)


def reading(device_id: str, minute: int, value: float, route_id: str = "r1") -> Observation:
    return Observation(
        device_id, START_NS + minute * NS_PER_MINUTE, "road", route_id, values={RST: value}
    )


def plans_for(one_night_route: str, sensors: int, policy: GrittingPolicy) -> list[RoutePlan]:
    devices = frozenset(f"rst-{one_night_route}-{n}" for n in range(1, sensors + 1))
    return [RoutePlan(one_night_route, policy, devices)]


def first_freezing_ns(observations: list[Observation]) -> int:
    return min(o.time_ns for o in observations if o.values.get(RST, 99.0) <= 0.0)


def recommendation_at(transitions: list, time_ns: int) -> Recommendation | None:  # type: ignore[type-arg]
    before = [t for t in transitions if t.at_ns <= time_ns]
    return before[-1].recommendation if before else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_precautionary_policy_treats_a_frosty_night_before_the_first_freezing_reading(
    seed: int,
) -> None:
    frosty = night(NightKind.FROSTY, seed=seed, route=SyntheticRoute("r1", "R1", 4.0, 1, "x"))
    observations = frosty.observations()
    result = replay(observations, plans_for("r1", 3, PRECAUTIONARY))
    outcome = result.routes["r1"]
    freezes_at = first_freezing_ns(observations)
    transitions = outcome.track.transitions
    assert recommendation_at(transitions, freezes_at - NS_PER_MINUTE) is Recommendation.TREAT
    (judged,) = [n for n in outcome.nights if n.freezing]
    assert judged.first_freezing_ns == freezes_at
    assert judged.treat_before_freezing
    onset = max(t.at_ns for t in outcome.track.treat_onsets if t.at_ns < freezes_at)
    assert judged.lead_minutes == pytest.approx((freezes_at - onset) / NS_PER_MINUTE)
    assert judged.lead_minutes is not None and judged.lead_minutes > 0
    assert outcome.freezing_nights_missed == 0
    assert len(outcome.track.icy_hours_missed) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_default_policy_treats_a_frosty_night_ahead_of_the_frost(seed: int) -> None:
    frosty = night(NightKind.FROSTY, seed=seed, route=SyntheticRoute("r1", "R1", 4.0, 1, "x"))
    observations = frosty.observations()
    outcome = replay(observations, plans_for("r1", 3, DEFAULT)).routes["r1"]
    freezes_at = first_freezing_ns(observations)
    onset = outcome.track.treat_onsets[0]
    assert onset.at_ns < freezes_at
    assert onset.explanation.startswith("TREAT ahead of frost: ")
    assert outcome.freezing_nights_missed == 0
    assert outcome.lead_minutes == [pytest.approx((freezes_at - onset.at_ns) / NS_PER_MINUTE)]
    assert outcome.lead_minutes[0] >= 60
    assert len(outcome.track.icy_hours_missed) == 0


def test_gritting_md_s_table_treats_at_the_first_freezing_reading_and_counts_it_missed() -> None:
    frosty = night(NightKind.FROSTY, seed=1, route=SyntheticRoute("r1", "R1", 4.0, 1, "x"))
    observations = frosty.observations()
    outcome = replay(observations, plans_for("r1", 3, TABLE_ONLY)).routes["r1"]
    freezes_at = first_freezing_ns(observations)
    assert recommendation_at(outcome.track.transitions, freezes_at) is Recommendation.TREAT
    assert recommendation_at(outcome.track.transitions, freezes_at - 1) is not Recommendation.TREAT
    assert outcome.freezing_nights_missed == 1  # TREAT came with the ice, not before it
    assert outcome.lead_minutes == [0.0]
    assert len(outcome.track.icy_hours_missed) == 0
    assert outcome.figures()["treat_nights"] == 1


def test_a_weather_station_s_dew_point_reaches_the_engine_in_a_replay() -> None:
    """The station is no route's road sensor, but its air temperature and humidity give the
    route's dew point: frost on a surface at or below it is ICE_LIKELY, in a replay too."""
    frosty = night(NightKind.FROSTY, seed=2, route=SyntheticRoute("r1", "R1", 4.0, 1, "x"))
    observations = frosty.observations()
    station = [o for o in observations if o.device_id.startswith("wx-")]
    assert station and all("dew_point" in o.values for o in station)

    with_station = replay(observations, plans_for("r1", 3, DEFAULT))
    without = replay([o for o in observations if o not in station], plans_for("r1", 3, DEFAULT))

    states = {t.state for t in with_station.routes["r1"].track.transitions}
    assert SensorState.ICE_LIKELY in states
    assert with_station.other_devices == len(station)
    final = with_station.routes["r1"].final
    assert final is not None and all(s.dew_point_c is not None for s in final.sensors)
    assert SensorState.ICE_LIKELY not in {t.state for t in without.routes["r1"].track.transitions}
    assert without.other_devices == 0


def test_transitions_are_only_real_changes_of_state_or_recommendation() -> None:
    # rst-2 falls silent at 15:00 and comes back at 16:00: the route's silent set changes
    # twice, its state and recommendation never do.
    observations = [reading("rst-1", minute, 6.0) for minute in range(0, 180, 10)]
    observations += [reading("rst-2", minute, 6.0) for minute in range(0, 60, 10)]
    observations += [reading("rst-2", minute, 6.0) for minute in range(120, 180, 10)]
    plan = [RoutePlan("r1", DEFAULT, frozenset({"rst-1", "rst-2"}))]

    transitions = replay(observations, plan).routes["r1"].track.transitions

    assert [(t.state, t.recommendation) for t in transitions] == [
        (SensorState.CLEAR, Recommendation.NO_ACTION)
    ]


@pytest.mark.parametrize("policy", [DEFAULT, PRECAUTIONARY], ids=["default", "precautionary"])
def test_a_mild_night_is_never_treated(policy: GrittingPolicy) -> None:
    mild = night(NightKind.MILD, seed=4, route=SyntheticRoute("r1", "R1", 4.0, 1, "x"))
    outcome = replay(mild.observations(), plans_for("r1", 3, policy)).routes["r1"]
    assert outcome.treat_episodes == 0
    assert outcome.treat_nights == 0
    assert outcome.warm_nights_treated == 0
    assert outcome.track.transitions  # the route was decided, and CLEAR
    assert all(t.recommendation is not Recommendation.TREAT for t in outcome.track.transitions)


def test_icy_hours_missed_counts_clock_hours_of_freezing_readings_outside_treat() -> None:
    # An hour at +2 °C, then −0.5 °C from 15:00 to 17:10: readings in three clock hours.
    observations = [reading("s1", minute, 2.0) for minute in range(0, 60, 10)]
    observations += [reading("s1", minute, -0.5) for minute in range(60, 200, 10)]
    plan = [RoutePlan("r1", DEFAULT, frozenset({"s1"}))]
    treated = replay(observations, plan).routes["r1"]
    assert len(treated.track.icy_hours) == 3
    assert len(treated.track.icy_hours_missed) == 0  # FREEZING → TREAT from the first one

    lax = GrittingPolicy(  # treats only at -1 °C, never on a forecast
        freezing_threshold_c=-1.0, marginal_threshold_c=0.5, treat_when_forecast_at_or_below_c=None
    )
    untreated = replay(observations, [RoutePlan("r1", lax, frozenset({"s1"}))]).routes["r1"]
    assert untreated.track.recommendation is Recommendation.MONITOR
    assert len(untreated.track.icy_hours_missed) == 3
    assert untreated.figures()["icy_hours_missed"] == 3
    assert untreated.freezing_nights == 1
    assert untreated.freezing_nights_missed == 1
    assert untreated.lead_minutes == []  # TREAT never came


def test_the_clock_advances_every_minute_so_a_silent_route_turns_unknown_on_time() -> None:
    # r1's only sensor stops after 14:50; r2 keeps reporting every 10 minutes until 17:00.
    observations = [reading("s1", minute, 5.0) for minute in range(0, 60, 10)]
    observations += [reading("s2", minute, 5.0, "r2") for minute in range(0, 181, 10)]
    plans = [
        RoutePlan("r1", DEFAULT, frozenset({"s1"})),
        RoutePlan("r2", DEFAULT, frozenset({"s2"})),
    ]
    result = replay(observations, plans)
    silence_ends = START_NS + (50 + 45) * NS_PER_MINUTE  # last reading + silence window
    last = result.routes["r1"].track.transitions[-1]
    assert last.recommendation is Recommendation.TREAT  # fail safe
    assert last.state.value == "UNKNOWN"
    assert silence_ends < last.at_ns <= silence_ends + NS_PER_MINUTE
    assert result.ticks == 180  # one per minute boundary after 14:00 up to 17:00


def test_input_order_does_not_matter_and_other_devices_are_counted() -> None:
    observations = night(NightKind.CLOUD_BUMP, seed=5).observations()
    plans = plans_for("test-route", 3, DEFAULT)
    forward = replay(observations, plans)
    backward = replay(list(reversed(observations)), plans)
    assert forward.report() == backward.report()
    assert forward.other_devices == sum(1 for o in observations if o.device_id.startswith("wx-"))


def test_the_report_has_the_documented_shape() -> None:
    observations = night(NightKind.FROSTY, seed=6).observations()
    report = replay(observations, plans_for("test-route", 3, DEFAULT)).report({"lines": 5})
    assert set(report) == {"routes", "summary"}
    route = report["routes"]["test-route"]  # type: ignore[index]
    assert route["transitions"]
    for transition in route["transitions"]:
        assert set(transition) == {"at", "state", "recommendation"}
        assert transition["at"].endswith("Z")
        datetime.fromisoformat(transition["at"])
        assert transition["state"] in {"CLEAR", "MARGINAL", "FREEZING", "ICE_LIKELY", "UNKNOWN"}
        assert transition["recommendation"] in {"NO_ACTION", "MONITOR", "TREAT"}
    assert route["transitions"][-1]["state"] in {"FREEZING", "ICE_LIKELY", "MARGINAL", "CLEAR"}
    assert route["first_treat"] is not None
    assert route["min_rst_c"] <= 0.0
    summary = report["summary"]
    assert summary["lines"] == 5  # type: ignore[index]
    assert summary["totals"]["treat_episodes"] == route["treat_episodes"]  # type: ignore[index]

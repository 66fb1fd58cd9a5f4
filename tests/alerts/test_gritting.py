"""The gritting engine: observations in, changed route decisions and alert conditions out."""

import json
import time

import pytest

from alerts.gritting import GrittingEngine, RoutePlan, gritting_conditions
from alerts.model import Observation, Recommendation, SensorState, Severity
from alerts.policy import GrittingPolicy
from decoders import dew_point as magnus

MINUTE = 60_000_000_000
T0 = 1_768_413_600 * 1_000_000_000  # 2026-01-14 18:00 UTC (18:00 local)


def at(minute: float) -> int:
    return T0 + round(minute * MINUTE)


def rst(device: str, minute: float, value: float, route: str | None = "R1") -> Observation:
    return Observation(
        device, at(minute), "road", route_id=route, values={"road_surface_temperature": value}
    )


def engine(*plans: tuple[str, set[str]], policy: GrittingPolicy | None = None) -> GrittingEngine:
    return GrittingEngine(
        RoutePlan(route, policy or GrittingPolicy(), frozenset(sensors)) for route, sensors in plans
    )


def test_a_route_with_no_data_yet_is_unknown_and_treated() -> None:
    decisions = engine(("R1", {"rst-1", "rst-2"})).decisions()

    decision = decisions["R1"]
    assert (decision.state, decision.recommendation) == (
        SensorState.UNKNOWN,
        Recommendation.TREAT,
    )
    assert "no reading has arrived yet from this route's sensors (rst-1, rst-2)" in (
        decision.explanation
    )


def test_observe_returns_only_routes_whose_decision_changed() -> None:
    grit = engine(("R1", {"rst-1"}), ("R2", {"rst-2"}))

    first = grit.observe(rst("rst-1", 0, 4.0))
    again = grit.observe(rst("rst-1", 10, 4.1))
    cold = grit.observe(rst("rst-1", 20, -0.3))

    assert [(d.route_id, d.state) for d in first] == [("R1", SensorState.CLEAR)]
    assert again == []
    assert [(d.route_id, d.state, d.recommendation) for d in cold] == [
        ("R1", SensorState.FREEZING, Recommendation.TREAT)
    ]
    assert grit.decisions()["R1"].state is SensorState.FREEZING
    assert grit.decisions()["R2"].state is SensorState.UNKNOWN


def test_the_current_decision_carries_the_latest_numbers() -> None:
    grit = engine(("R1", {"rst-1"}))
    grit.observe(rst("rst-1", 0, 4.0))
    grit.observe(rst("rst-1", 10, 4.2))

    decision = grit.decisions()["R1"]

    assert decision.at_ns == at(10)
    assert decision.sensors[0].latest_c == 4.2


def test_a_dew_point_from_another_device_on_the_route_makes_frost_likely() -> None:
    grit = engine(("R1", {"rst-1"}))
    grit.observe(rst("rst-1", 0, -0.5))
    weather = Observation("weather-1", at(1), "air", route_id="R1", values={"dew_point": -0.2})

    changed = grit.observe(weather)

    assert [(d.state, d.sensors[0].dew_point_c) for d in changed] == [
        (SensorState.ICE_LIKELY, -0.2)
    ]


def test_the_dew_point_is_derived_from_air_temperature_and_humidity() -> None:
    grit = engine(("R1", {"rst-1"}))
    grit.observe(rst("rst-1", 0, -0.5))
    weather = Observation(
        "weather-1",
        at(1),
        "air",
        route_id="R1",
        values={"air_temperature": 1.0, "relative_humidity": 92.0},
    )

    (decision,) = grit.observe(weather)

    assert decision.sensors[0].dew_point_c == pytest.approx(magnus(1.0, 92.0))
    assert decision.state is SensorState.ICE_LIKELY  # dew point -0.1 °C, surface -0.5 °C


def test_a_dew_point_on_another_route_changes_nothing() -> None:
    grit = engine(("R1", {"rst-1"}), ("R2", {"rst-2"}))
    grit.observe(rst("rst-1", 0, -0.5))

    changed = grit.observe(
        Observation("weather-2", at(1), "air", route_id="R2", values={"dew_point": 3.0})
    )

    assert changed == []
    assert grit.decisions()["R1"].state is SensorState.FREEZING


def test_a_wet_surface_reported_by_the_sensor_makes_ice_likely() -> None:
    grit = engine(("R1", {"rst-1"}))

    (decision,) = grit.observe(
        Observation(
            "rst-1",
            at(0),
            "road",
            route_id="R1",
            values={"road_surface_temperature": -0.2, "surface_wet": 1.0},
        )
    )

    assert decision.state is SensorState.ICE_LIKELY
    assert decision.sensors[0].surface_wet is True


def test_flagged_readings_never_decide() -> None:
    grit = engine(("R1", {"rst-1"}))
    grit.observe(rst("rst-1", 0, 4.0))

    changed = grit.observe(
        Observation(
            "rst-1",
            at(10),
            "road",
            route_id="R1",
            flagged={"road_surface_temperature": "probe error code -127.0 (disconnected)"},
        )
    )

    assert changed == []
    assert grit.decisions()["R1"].sensors[0].latest_c == 4.0


def test_advance_notices_silence_on_the_data_clock() -> None:
    grit = engine(("R1", {"rst-1", "rst-2"}))
    grit.observe(rst("rst-1", 0, 4.0))
    grit.observe(rst("rst-2", 0, 5.0))
    grit.observe(rst("rst-2", 40, 5.0))

    assert grit.advance(at(45)) == []
    (one_silent,) = grit.advance(at(46))
    assert one_silent.silent == ("rst-1",)
    assert one_silent.recommendation is Recommendation.NO_ACTION
    (all_silent,) = grit.advance(at(86))
    assert (all_silent.state, all_silent.recommendation) == (
        SensorState.UNKNOWN,
        Recommendation.TREAT,
    )
    assert grit.advance(at(90)) == []


def test_the_clock_never_runs_backwards() -> None:
    grit = engine(("R1", {"rst-1"}))
    grit.observe(rst("rst-1", 100, 4.0))

    grit.advance(at(0))

    assert grit.now_ns == at(100)


def test_sensors_not_yet_heard_are_not_silent_at_start_up() -> None:
    grit = engine(("R1", {"rst-1", "rst-2"}))

    (decision,) = grit.observe(rst("rst-1", 0, 4.0))

    assert decision.silent == ()
    grit.observe(rst("rst-1", 40, 4.0))
    (later,) = grit.advance(at(46))
    assert later.silent == ("rst-2",)


def test_replacing_plans_keeps_history_and_applies_the_new_policy() -> None:
    grit = engine(("R1", {"rst-1"}))
    grit.observe(rst("rst-1", 0, 0.8))
    assert grit.decisions()["R1"].recommendation is Recommendation.MONITOR

    changed = grit.replace_plans(
        [
            RoutePlan("R1", GrittingPolicy(precautionary=True), frozenset({"rst-1"})),
            RoutePlan("R9", GrittingPolicy(), frozenset({"rst-9"})),
        ]
    )

    assert [(d.route_id, d.recommendation) for d in changed] == [("R1", Recommendation.TREAT)]
    assert grit.decisions()["R1"].sensors[0].latest_c == 0.8
    assert grit.decisions()["R9"].state is SensorState.UNKNOWN
    assert (
        grit.replace_plans(
            [
                RoutePlan("R1", GrittingPolicy(precautionary=True), frozenset({"rst-1"})),
                RoutePlan("R9", GrittingPolicy(), frozenset({"rst-9"})),
            ]
        )
        == []
    )


def test_a_route_planned_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="route 'R1' is planned twice"):
        engine(("R1", {"rst-1"}), ("R1", {"rst-2"}))


def test_a_sensor_on_two_routes_is_judged_by_each_route_s_policy() -> None:
    grit = GrittingEngine(
        [
            RoutePlan("R1", GrittingPolicy(), frozenset({"rst-1"})),
            RoutePlan("R2", GrittingPolicy(marginal_threshold_c=2.0), frozenset({"rst-1"})),
        ]
    )

    changed = grit.observe(rst("rst-1", 0, 1.5, route=None))

    assert {d.route_id: d.state for d in changed} == {
        "R1": SensorState.CLEAR,
        "R2": SensorState.MARGINAL,
    }


def test_a_frost_forecast_treats_a_route_whose_policy_allows_it_and_only_that_route() -> None:
    grit = GrittingEngine(
        [
            RoutePlan("R1", GrittingPolicy(), frozenset({"rst-1"})),
            RoutePlan(
                "R2",
                GrittingPolicy(treat_when_forecast_at_or_below_c=None),
                frozenset({"rst-1"}),
            ),
        ]
    )
    changes = []
    for i in range(8):  # 1.5 °C/h from +3.0 °C: the hour-ahead line says 0 °C at +1.5 °C
        changes += grit.observe(rst("rst-1", i * 10, 3.0 - 0.25 * i, route=None))

    decisions = grit.decisions()
    assert (decisions["R1"].state, decisions["R1"].recommendation) == (
        SensorState.MARGINAL,
        Recommendation.TREAT,
    )
    assert decisions["R2"].recommendation is Recommendation.MONITOR
    treat = next(d for d in changes if d.recommendation is Recommendation.TREAT)
    assert treat.route_id == "R1" and treat.at_ns == at(60)
    assert treat.explanation.startswith(
        "TREAT ahead of frost: rst-1 forecast at 19:00 to reach 0.0 °C by 20:00 "
        "(straight-line fit on 7 readings"
    )
    gritting, _ = gritting_conditions(treat)
    assert gritting.severity is Severity.CRITICAL
    assert gritting.summary == "Route R1: TREAT, frost forecast (rst-1 +1.5 °C at 19:00)"


def test_conditions_for_a_treat_decision_with_a_silent_sensor() -> None:
    grit = engine(("R1", {"rst-1", "rst-2"}))
    grit.observe(rst("rst-2", 0, 3.0))
    grit.observe(rst("rst-1", 0, -0.4))
    grit.observe(rst("rst-1", 50, -0.6))
    decision = grit.decisions()["R1"]

    gritting, silent = gritting_conditions(decision)

    assert (gritting.key, gritting.rule, gritting.active, gritting.severity) == (
        "gritting:R1",
        "gritting",
        True,
        Severity.CRITICAL,
    )
    assert (gritting.route_id, gritting.domain) == ("R1", "road")
    assert (
        gritting.summary
        == "Route R1: TREAT, road surface at or below freezing (rst-1 -0.6 °C at 18:50)"
    )
    assert gritting.explanation["deciding_sensor"] == "rst-1"
    assert gritting.explanation["reading_c"] == -0.6
    assert gritting.explanation["reading_at"] == "2026-01-14T18:50:00Z"
    assert gritting.explanation["state"] == "FREEZING"
    assert (silent.key, silent.active, silent.severity) == (
        "silent_sensors:R1",
        True,
        Severity.WARNING,
    )
    assert silent.explanation["silent_sensors"] == ["rst-2"]
    assert "rst-2" in silent.summary
    json.dumps(gritting.explanation)
    json.dumps(silent.explanation)


def test_conditions_clear_when_the_route_is_clear_and_every_sensor_reports() -> None:
    grit = engine(("R1", {"rst-1"}))
    (decision,) = grit.observe(rst("rst-1", 0, 5.0))

    gritting, silent = gritting_conditions(decision)

    assert not gritting.active and not silent.active


def test_a_monitor_decision_is_a_warning() -> None:
    grit = engine(("R1", {"rst-1"}))
    (decision,) = grit.observe(rst("rst-1", 0, 0.7))

    gritting, _ = gritting_conditions(decision)

    assert gritting.active and gritting.severity is Severity.WARNING
    assert gritting.explanation["predicted_minimum_at"] is None  # no forecast from one reading


def test_observe_is_cheap() -> None:
    """Many routes, readings every 10 min, for two nights: well under a millisecond each."""
    routes = [(f"R{r}", {f"rst-{r}-{s}" for s in range(3)}) for r in range(50)]
    grit = engine(*routes)
    uplinks = [
        rst(f"rst-{r}-{s}", minute + r % 10, 6.0 - minute / 200 + 0.05 * ((minute * 7 + s) % 3))
        for minute in range(0, 2 * 24 * 60, 10)
        for r in range(50)
        for s in range(3)
    ]
    non_road = Observation("aq-1", at(0), "air", site="school", values={"pm2_5": 4.0})

    started = time.perf_counter()
    for observation in uplinks:
        grit.observe(observation)
    per_road_uplink = (time.perf_counter() - started) / len(uplinks)
    started = time.perf_counter()
    for _ in range(10_000):
        grit.observe(non_road)
    per_other_uplink = (time.perf_counter() - started) / 10_000

    print(
        f"observe: {per_road_uplink * 1e6:.0f} µs per road uplink, "
        f"{per_other_uplink * 1e6:.1f} µs per other uplink"
    )
    assert per_road_uplink < 500e-6
    assert per_other_uplink < 20e-6

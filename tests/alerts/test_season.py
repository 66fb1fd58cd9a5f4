"""The season report's counts and costs, checked by hand on a small made-up season."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from alerts.model import Recommendation, RouteDecision, SensorState
from alerts.season import (
    CostAssumptions,
    night_bounds,
    night_of_instant,
    night_of_run,
    run_cost,
    season_report,
)
from storage.registry.records import RouteRecord, TreatmentRecord

CLEAR = (SensorState.CLEAR, Recommendation.NO_ACTION)
MARGINAL = (SensorState.MARGINAL, Recommendation.MONITOR)
FREEZING = (SensorState.FREEZING, Recommendation.TREAT)
UNKNOWN = (SensorState.UNKNOWN, Recommendation.TREAT)

HILL = RouteRecord("hill", "Hill road", 5.0, 1, None)  # width and spread rate: the defaults
BRIDGE = RouteRecord("bridge", "Bridge", 2.0, 1, None, spread_rate_g_m2=15.0, width_m=6.0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ns(text: str) -> int:
    return int(at(text).timestamp()) * 1_000_000_000


def decision(
    route_id: str, when: str, verdict: tuple[SensorState, Recommendation]
) -> RouteDecision:
    state, recommendation = verdict
    return RouteDecision(route_id, state, recommendation, ns(when), explanation="test")


_ids = iter(range(1, 1000))


def run(
    route_id: str, start: str, end: str | None = None, rate: float | None = None
) -> TreatmentRecord:
    return TreatmentRecord(
        id=next(_ids),
        route_id=route_id,
        started_at=at(start),
        ended_at=at(end) if end else None,
        spread_rate_g_m2=rate,
        notes=None,
        logged_by="highways",
        logged_at=at(start) + timedelta(hours=3),
    )


# Four winter nights (GMT = UTC), evenings 6 to 9 January 2025.
DECISIONS = [
    decision("hill", "2025-01-06T12:00", CLEAR),  # in force all night 6
    decision("hill", "2025-01-07T22:00", MARGINAL),
    decision("hill", "2025-01-08T03:00", FREEZING),  # night 7 needs treatment
    decision("hill", "2025-01-08T11:00", CLEAR),  # night 8 clear throughout
    decision("hill", "2025-01-09T19:30", MARGINAL),  # night 9 leaves CLEAR, no TREAT
    decision("bridge", "2025-01-08T20:00", UNKNOWN),  # every sensor silent: fail safe
    decision("bridge", "2025-01-09T01:00", CLEAR),
]
TREATMENTS = [
    run("hill", "2025-01-06T17:00", "2025-01-06T18:30"),  # pre-treatment, night 6: avoidable
    run("hill", "2025-01-08T02:00"),  # night 7, needed
    run("hill", "2025-01-08T19:00"),  # night 8, twice, both avoidable
    run("hill", "2025-01-09T05:00", "2025-01-09T06:00"),
    run("bridge", "2025-01-07T20:00", "2025-01-07T21:00", rate=20.0),  # no evidence that night
]


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    return season_report(DECISIONS, TREATMENTS, [HILL, BRIDGE])


def routes(report: dict[str, object]) -> dict[str, dict[str, object]]:
    value = report["routes"]
    assert isinstance(value, dict)
    return value


def test_the_season_spans_the_nights_of_the_decisions_and_runs(report: dict[str, object]) -> None:
    assert report["season"] == {
        "first_evening": "2025-01-06",
        "last_evening": "2025-01-09",
        "nights": 4,
        "night": "18:00–10:00 Europe/London",
    }


def test_hill_road_counts(report: dict[str, object]) -> None:
    hill = routes(report)["hill"]
    assert hill["nights"] == 4
    assert hill["nights_needing_treatment"] == 1
    assert hill["nights_treated"] == 3
    assert hill["runs"] == 4
    assert hill["avoidable_nights"] == 2
    assert hill["avoidable_runs"] == 3
    assert hill["needed_but_untreated"] == []
    details = {night["evening"]: night for night in hill["night_details"]}  # type: ignore[attr-defined]
    assert [details[e]["avoidable"] for e in sorted(details)] == [True, False, True, False]
    assert details["2025-01-07"]["coldest_state"] == "FREEZING"
    assert details["2025-01-09"]["never_left_clear"] is False


def test_hill_road_costs_follow_length_width_rate_and_duration(report: dict[str, object]) -> None:
    hill = routes(report)["hill"]
    # one run: 5 km × 1000 × 7.3 m × 10 g/m² / 1e6 = 0.365 t; 5 km × 0.45 l/km = 2.25 l
    # avoidable hours: 1.5 (logged) + 5 km / 30 km/h (not logged) + 1.0 (logged) = 2.667 h
    assert hill["avoidable_cost"] == {
        "salt_tonnes": 1.095,
        "fuel_litres": 6.8,  # 6.75 to one decimal
        "driver_hours": 2.67,
    }
    assert hill["all_runs_cost"] == {"salt_tonnes": 1.46, "fuel_litres": 9.0, "driver_hours": 2.83}
    first = hill["avoidable"][0]  # type: ignore[index]
    assert first["evening"] == "2025-01-06"
    assert first["hours_from"] == "log"
    assert first["spread_rate_from"] == "default"
    assert first["width_from"] == "default"


def test_no_evidence_is_never_called_avoidable_and_silence_counts_as_needing_treatment(
    report: dict[str, object],
) -> None:
    bridge = routes(report)["bridge"]
    assert bridge["nights_without_evidence"] == 2  # no decision before night 8
    assert bridge["nights_treated"] == 1
    assert bridge["avoidable_runs"] == 0
    assert bridge["nights_needing_treatment"] == 1  # UNKNOWN → TREAT on night 8
    assert bridge["needed_but_untreated"] == ["2025-01-08"]
    assert bridge["nights_with_unknown"] == 1
    # the treatment's own 20 g/m² beats the route's 15: 2 km × 1000 × 6 m × 20 / 1e6 = 0.24 t
    assert bridge["all_runs_cost"] == {"salt_tonnes": 0.24, "fuel_litres": 0.9, "driver_hours": 1.0}


def test_totals_add_the_routes(report: dict[str, object]) -> None:
    assert report["totals"] == {
        "nights_needing_treatment": 2,
        "nights_treated": 4,
        "runs": 5,
        "avoidable_nights": 2,
        "avoidable_runs": 3,
        "avoidable_cost": {"salt_tonnes": 1.095, "fuel_litres": 6.8, "driver_hours": 2.67},
        "all_runs_cost": {"salt_tonnes": 1.7, "fuel_litres": 9.9, "driver_hours": 3.83},
    }


def test_the_route_spread_rate_and_width_beat_the_defaults() -> None:
    cost = run_cost(run("bridge", "2025-01-07T20:00"), BRIDGE, CostAssumptions())
    assert cost.salt_tonnes == pytest.approx(2.0 * 1000 * 6.0 * 15.0 / 1e6)
    assert cost.hours == pytest.approx(2.0 / 30.0)
    assert (cost.spread_rate_from, cost.width_from, cost.duration_from) == (
        "route",
        "route",
        "length/speed",
    )


def test_assumptions_change_the_estimate_and_refuse_nonsense() -> None:
    two_crew = CostAssumptions(crew=2, treating_speed_kmh=20.0, fuel_l_per_km=0.6)
    cost = run_cost(run("hill", "2025-01-07T20:00"), HILL, two_crew)
    assert cost.driver_hours == pytest.approx(2 * 5.0 / 20.0)
    assert cost.fuel_litres == pytest.approx(3.0)
    with pytest.raises(ValidationError):
        CostAssumptions(width_m=0)
    with pytest.raises(ValidationError):
        CostAssumptions(salt_price=30)  # type: ignore[call-arg]


def test_an_explicit_season_counts_nights_with_nothing_in_them() -> None:
    report = season_report(
        DECISIONS,
        TREATMENTS,
        [HILL],
        first_evening=date(2025, 1, 1),
        last_evening=date(2025, 1, 31),
    )
    hill = routes(report)["hill"]
    assert hill["nights"] == 31
    assert hill["nights_without_evidence"] == 5  # 1–5 January, before the first decision
    assert hill["nights_treated"] == 3


def test_nights_follow_the_local_clock_through_both_clock_changes() -> None:
    spring_start, spring_end = night_bounds(date(2025, 3, 29))  # clocks go forward that night
    assert spring_start == at("2025-03-29T18:00")
    assert spring_end == at("2025-03-30T09:00")  # 10:00 BST
    autumn_start, autumn_end = night_bounds(date(2025, 10, 25))  # clocks go back that night
    assert autumn_start == at("2025-10-25T17:00")  # 18:00 BST
    assert autumn_end == at("2025-10-26T10:00")
    assert night_of_instant(at("2025-10-25T17:30")) == date(2025, 10, 25)  # 18:30 BST
    assert night_of_instant(at("2025-10-26T09:30")) == date(2025, 10, 25)  # 09:30 GMT
    assert night_of_instant(at("2025-10-26T12:00")) is None


def test_a_run_counts_for_the_night_it_prepares_for() -> None:
    assert night_of_run(at("2025-01-06T15:00")) == date(2025, 1, 6)  # afternoon pre-treatment
    assert night_of_run(at("2025-01-07T04:30")) == date(2025, 1, 6)  # early-morning run
    assert night_of_run(at("2025-01-07T10:00")) == date(2025, 1, 7)


def test_a_decision_exactly_at_six_is_in_force_for_the_night() -> None:
    decisions = [
        decision("hill", "2025-01-06T12:00", MARGINAL),
        decision("hill", "2025-01-06T18:00", CLEAR),
        decision("hill", "2025-01-07T10:00", FREEZING),  # the night is over
    ]
    report = season_report(decisions, [run("hill", "2025-01-06T20:00")], [HILL])
    night = routes(report)["hill"]["night_details"][0]  # type: ignore[index]
    assert night["never_left_clear"] is True
    assert night["needed_treatment"] is False
    assert night["avoidable"] is True


def test_an_empty_season_is_an_empty_report() -> None:
    report = season_report([], [], [HILL])
    assert report["season"]["nights"] == 0  # type: ignore[index]
    assert routes(report)["hill"]["runs"] == 0

"""A route's decision: the coldest working sensor decides, silence is named, no data means treat."""

from datetime import UTC, datetime

import pytest

from alerts.model import Prediction, Recommendation, SensorState, SensorStatus
from alerts.policy import GrittingPolicy
from alerts.route import (
    TreatAhead,
    celsius,
    decide_route,
    headline,
    judge_route,
    local_hhmm,
    recommendation_for,
)

WINTER_0255 = int(datetime(2026, 1, 15, 2, 55, tzinfo=UTC).timestamp()) * 10**9
MINUTE = 60 * 10**9


def status(
    device: str,
    state: SensorState,
    reading: float | None = None,
    *,
    reason: str = "",
    forecast: float | None = None,
    forecast_at: int | None = None,
    minutes_ago: int = 0,
) -> SensorStatus:
    prediction = (
        None
        if forecast is None
        else Prediction("newton", forecast, forecast_at or WINTER_0255 + 180 * MINUTE, 12)
    )
    return SensorStatus(
        device,
        state,
        WINTER_0255,
        reason or f"RST {reading}",
        latest_c=reading,
        latest_at_ns=None if reading is None else WINTER_0255 - minutes_ago * MINUTE,
        prediction=prediction,
    )


@pytest.mark.parametrize(
    ("state", "precautionary", "recommendation"),
    [
        (SensorState.CLEAR, False, Recommendation.NO_ACTION),
        (SensorState.MARGINAL, False, Recommendation.MONITOR),
        (SensorState.MARGINAL, True, Recommendation.TREAT),
        (SensorState.FREEZING, False, Recommendation.TREAT),
        (SensorState.ICE_LIKELY, False, Recommendation.TREAT),
        (SensorState.UNKNOWN, False, Recommendation.TREAT),
        (SensorState.CLEAR, True, Recommendation.NO_ACTION),
    ],
)
def test_states_map_to_recommendations(
    state: SensorState, precautionary: bool, recommendation: Recommendation
) -> None:
    assert recommendation_for(state, GrittingPolicy(precautionary=precautionary)) is recommendation


TABLE_ONLY = GrittingPolicy(treat_when_forecast_at_or_below_c=None)


@pytest.mark.parametrize(
    ("state", "recommendation"),
    [
        (SensorState.CLEAR, Recommendation.NO_ACTION),
        (SensorState.MARGINAL, Recommendation.MONITOR),
        (SensorState.FREEZING, Recommendation.TREAT),
        (SensorState.ICE_LIKELY, Recommendation.TREAT),
        (SensorState.UNKNOWN, Recommendation.TREAT),
    ],
)
def test_without_forecast_driven_treat_the_route_follows_gritting_md_s_table_exactly(
    state: SensorState, recommendation: Recommendation
) -> None:
    statuses = [status("rst-1", state, 0.5, forecast=-2.0)]
    # The engine never makes a call under this policy; even one handed in changes nothing.
    ahead = {"rst-1": TreatAhead(WINTER_0255, 0.5, statuses[0].prediction)}

    assert recommendation_for(state, TABLE_ONLY) is recommendation
    assert judge_route(statuses, [], TABLE_ONLY).recommendation is recommendation
    assert judge_route(statuses, [], TABLE_ONLY, ahead).recommendation is recommendation


def test_a_frost_forecast_makes_a_marginal_route_treat_ahead_of_the_ice() -> None:
    assert recommendation_for(SensorState.MARGINAL, GrittingPolicy()) is Recommendation.MONITOR
    assert (
        recommendation_for(SensorState.MARGINAL, GrittingPolicy(), frost_forecast=True)
        is Recommendation.TREAT
    )
    assert (
        recommendation_for(SensorState.CLEAR, GrittingPolicy(), frost_forecast=True)
        is Recommendation.NO_ACTION
    )


def frost_call(minimum: float, points: int = 12, model: str = "newton") -> TreatAhead:
    forecast = Prediction(model, minimum, WINTER_0255 + 45 * MINUTE, points)  # type: ignore[arg-type]
    return TreatAhead(WINTER_0255 - 60 * MINUTE, 1.8, forecast)


def test_the_sensor_forecasting_frost_decides_and_the_explanation_says_so() -> None:
    statuses = [
        status("rst-1", SensorState.MARGINAL, 0.6, forecast=0.4),
        status("rst-2", SensorState.MARGINAL, 1.2, forecast=-0.8),
    ]

    decision = decide_route(
        "R1", statuses, [], GrittingPolicy(), WINTER_0255, {"rst-2": frost_call(-0.8)}
    )

    assert (decision.state, decision.recommendation) == (
        SensorState.MARGINAL,
        Recommendation.TREAT,
    )
    assert decision.deciding_sensor == "rst-2"  # not rst-1, whose reading is colder
    assert decision.explanation.startswith(
        "TREAT ahead of frost: rst-2 forecast at 01:55 to reach -0.8 °C by 03:40 "
        "(Newton fit on 12 readings; a forecast at or below 0.0 °C means treat). "
        "Deciding sensor rst-2 at 02:55:"
    )


def test_a_route_treated_after_a_freeze_says_the_call_stands_until_clear() -> None:
    statuses = [status("rst-1", SensorState.MARGINAL, 0.8)]
    froze = TreatAhead(WINTER_0255 - 40 * MINUTE, -0.4)

    decision = decide_route("R1", statuses, [], GrittingPolicy(), WINTER_0255, {"rst-1": froze})

    assert decision.recommendation is Recommendation.TREAT
    assert decision.explanation.startswith(
        "TREAT until the road is clear: rst-1 read -0.4 °C at 02:15. Sensor rst-1 at 02:55:"
    )
    assert (
        headline(decision)
        == "Route R1: TREAT, froze earlier, not yet clear (rst-1 +0.8 °C at 02:55)"
    )


def test_a_silent_sensor_s_frost_forecast_does_not_decide() -> None:
    statuses = [
        status("rst-1", SensorState.MARGINAL, 0.8),
        status("rst-2", SensorState.UNKNOWN, 1.5, minutes_ago=60, reason="no valid reading"),
    ]

    decision = decide_route(
        "R1", statuses, ["rst-2"], GrittingPolicy(), WINTER_0255, {"rst-2": frost_call(-1.0)}
    )

    assert decision.recommendation is Recommendation.MONITOR
    assert decision.deciding_sensor == "rst-1"


def test_the_coldest_working_sensor_decides_and_the_explanation_says_how() -> None:
    statuses = [
        status("rst-1", SensorState.CLEAR, 4.1, forecast=2.6),
        status(
            "rst-2",
            SensorState.ICE_LIKELY,
            -0.4,
            reason="RST -0.4 °C at or below 0.0 °C and at or below the dew point -0.2 °C: "
            "frost likely",
            forecast=-1.3,
            forecast_at=WINTER_0255 + 180 * MINUTE,
        ),
        status("rst-3", SensorState.MARGINAL, 0.8, forecast=-0.5),
    ]

    decision = decide_route("R12", statuses, [], GrittingPolicy(), WINTER_0255)

    assert decision.state is SensorState.ICE_LIKELY
    assert decision.recommendation is Recommendation.TREAT
    assert decision.deciding_sensor == "rst-2"
    assert decision.predicted_minimum_c == -1.3
    assert decision.predicted_minimum_at_ns == WINTER_0255 + 180 * MINUTE
    assert decision.explanation == (
        "TREAT: ice likely. Deciding sensor rst-2 at 02:55: RST -0.4 °C at or below 0.0 °C "
        "and at or below the dew point -0.2 °C: frost likely. Lowest forecast -1.3 °C by 05:55 "
        "(cooling curve). Other sensors: rst-3 MARGINAL (+0.8 °C), rst-1 CLEAR (+4.1 °C)."
    )


def test_among_equal_states_the_colder_reading_decides() -> None:
    statuses = [
        status("rst-1", SensorState.MARGINAL, 0.9, forecast=0.9),
        status("rst-2", SensorState.MARGINAL, 2.5, forecast=0.2),
    ]

    decision = decide_route("R1", statuses, [], GrittingPolicy(), WINTER_0255)

    assert decision.deciding_sensor == "rst-2"


def test_silent_sensors_are_named_and_the_others_decide() -> None:
    statuses = [
        status("rst-1", SensorState.CLEAR, 5.0, forecast=3.0),
        status("rst-2", SensorState.UNKNOWN, 2.0, minutes_ago=75, reason="no valid reading"),
    ]

    decision = decide_route("R1", statuses, ["rst-2"], GrittingPolicy(), WINTER_0255)

    assert decision.state is SensorState.CLEAR
    assert decision.recommendation is Recommendation.NO_ACTION
    assert decision.silent == ("rst-2",)
    assert decision.explanation.endswith(
        "Silent, their stretch is not watched: rst-2 last valid reading +2.0 °C at 01:40."
    )


def test_a_route_whose_sensors_are_all_silent_is_unknown_and_treated() -> None:
    statuses = [
        status("rst-1", SensorState.UNKNOWN, 3.0, minutes_ago=50, reason="no valid reading"),
        status("rst-2", SensorState.UNKNOWN, reason="no reading has arrived yet"),
    ]

    decision = decide_route("R1", statuses, ["rst-1", "rst-2"], GrittingPolicy(), WINTER_0255)

    assert decision.state is SensorState.UNKNOWN
    assert decision.recommendation is Recommendation.TREAT
    assert decision.deciding_sensor is None
    assert decision.explanation == (
        "TREAT (fail safe): no sensor on this route has a valid reading in the last 45 min "
        "(rst-1 last valid reading +3.0 °C at 02:05; rst-2 no reading has arrived yet). "
        "Treat as if icy until data returns."
    )


def test_a_route_not_yet_heard_from_is_treated_and_says_so() -> None:
    statuses = [status("rst-1", SensorState.UNKNOWN, reason="no reading has arrived yet")]

    decision = decide_route("R1", statuses, [], GrittingPolicy(), WINTER_0255)

    assert decision.recommendation is Recommendation.TREAT
    assert decision.explanation == (
        "TREAT (fail safe): no reading has arrived yet from this route's sensors (rst-1)."
    )


def test_a_route_without_sensors_is_never_clear() -> None:
    decision = decide_route("R1", [], [], GrittingPolicy(), WINTER_0255)

    assert (decision.state, decision.recommendation) == (
        SensorState.UNKNOWN,
        Recommendation.TREAT,
    )
    assert "no road sensor is registered on this route" in decision.explanation


def test_a_precautionary_route_says_why_marginal_means_treat() -> None:
    statuses = [status("rst-1", SensorState.MARGINAL, 0.8)]

    decision = decide_route("R1", statuses, [], GrittingPolicy(precautionary=True), WINTER_0255)

    assert decision.recommendation is Recommendation.TREAT
    assert decision.explanation.startswith(
        "TREAT: marginal (precautionary route: marginal means treat). Sensor rst-1 at 02:55:"
    )


def test_times_are_told_in_uk_local_time() -> None:
    summer = int(datetime(2026, 4, 1, 2, 55, tzinfo=UTC).timestamp()) * 10**9

    assert local_hhmm(WINTER_0255) == "02:55"  # GMT
    assert local_hhmm(summer) == "03:55"  # BST


@pytest.mark.parametrize(
    ("value", "text"), [(1.0, "+1.0 °C"), (0.0, "0.0 °C"), (-0.04, "0.0 °C"), (-2.26, "-2.3 °C")]
)
def test_temperatures_are_written_as_people_write_them(value: float, text: str) -> None:
    assert celsius(value) == text

"""A route's decision from its sensors' states, and the words a duty officer reads at 3 a.m.

The coldest sensor with valid data decides (GRITTING.md): a route is only as safe as
its worst stretch. Sensors that have gone silent are named, since their stretch is not
watched; when every sensor is silent the route is UNKNOWN and the recommendation is
TREAT. A route with no working sensor is never CLEAR: wherry must never be the reason
a road ices untreated. A MARGINAL route is TREAT, not MONITOR, when one of its MARGINAL
sensors calls TREAT on a frost forecast (or after a freeze): salt must be down before
the road freezes, and the explanation says which sensor forecast what, by when.
Stability comes from the sensors' hysteresis, so the route needs none of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.model import Prediction, Recommendation, RouteDecision, SensorState, SensorStatus
from alerts.policy import GrittingPolicy

LOCAL_ZONE = ZoneInfo("Europe/London")

_STATE_WORDS = {
    SensorState.ICE_LIKELY: "ice likely",
    SensorState.FREEZING: "road surface at or below freezing",
    SensorState.MARGINAL: "marginal",
    SensorState.CLEAR: "clear",
    SensorState.UNKNOWN: "no working sensor",
}
_MODEL_WORDS = {"newton": "cooling curve", "linear": "trend line", "none": "no forecast"}
_FIT_WORDS = {"newton": "Newton fit", "linear": "straight-line fit", "none": "no fit"}
_LISTED_OTHERS = 4
_AHEAD_OF_FROST = f"{Recommendation.TREAT} ahead of frost"
_UNTIL_CLEAR = f"{Recommendation.TREAT} until the road is clear"


@dataclass(frozen=True, slots=True)
class RouteVerdict:
    """The part of a decision that counts as a change: cheap to compute on every reading.

    Which sensor decides is not part of it: among sensors in the same state the coldest
    may change with every reading, and that is not news for the duty officer.
    """

    state: SensorState
    recommendation: Recommendation
    silent: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TreatAhead:
    """Why a MARGINAL sensor calls TREAT: a trusted frost forecast made at `made_at_ns`
    (`forecast`), or a reading at or below freezing then (`forecast` None).

    `reading_c` is the sensor's reading at `made_at_ns`. Either call stands until the
    sensor is CLEAR again; a forecast's, at least until the time it was made for.
    """

    made_at_ns: int
    reading_c: float
    forecast: Prediction | None = None

    @property
    def coldest_c(self) -> float:
        """The forecast minimum, or the freezing reading: which call is the coldest."""
        if self.forecast is not None and self.forecast.minimum_c is not None:
            return self.forecast.minimum_c
        return self.reading_c


def recommendation_for(
    state: SensorState, policy: GrittingPolicy, *, frost_forecast: bool = False
) -> Recommendation:
    """GRITTING.md's mapping: UNKNOWN treats (fail safe); MARGINAL treats if precautionary,
    or when a MARGINAL sensor calls TREAT (`frost_forecast`, worked out by `judge_route`)."""
    if state is SensorState.CLEAR:
        return Recommendation.NO_ACTION
    if state is SensorState.MARGINAL:
        treat = policy.precautionary or frost_forecast
        return Recommendation.TREAT if treat else Recommendation.MONITOR
    return Recommendation.TREAT


def judge_route(
    statuses: Sequence[SensorStatus],
    silent: Sequence[str],
    policy: GrittingPolicy,
    ahead: Mapping[str, TreatAhead] | None = None,
) -> RouteVerdict:
    """Worst state among sensors with valid data; UNKNOWN when there are none.

    `ahead` holds each sensor's TREAT call (`SensorTracker.treat_ahead`: a frost forecast
    or an earlier freeze). A MARGINAL route is TREAT when one of its MARGINAL sensors has
    one, unless the policy switches forecast-driven TREAT off (GRITTING.md's table exactly).
    """
    state = max(
        (s.state for s in statuses if s.state is not SensorState.UNKNOWN),
        key=_coldness,
        default=SensorState.UNKNOWN,
    )
    frost = state is SensorState.MARGINAL and bool(_ahead_of_frost(statuses, ahead, policy))
    return RouteVerdict(
        state,
        recommendation_for(state, policy, frost_forecast=frost),
        tuple(sorted(silent)),
    )


def decide_route(
    route_id: str,
    statuses: Sequence[SensorStatus],
    silent: Sequence[str],
    policy: GrittingPolicy,
    now_ns: int,
    ahead: Mapping[str, TreatAhead] | None = None,
) -> RouteDecision:
    """The full decision with its explanation (`statuses`: every sensor registered on the route;
    `ahead` as for `judge_route`)."""
    verdict = judge_route(statuses, silent, policy, ahead)
    working = [status for status in statuses if status.state is not SensorState.UNKNOWN]
    calls = (
        _ahead_of_frost(statuses, ahead, policy) if verdict.state is SensorState.MARGINAL else []
    )
    deciding = calls[0][0] if calls else _deciding(working)
    lowest = _lowest_forecast(working)
    return RouteDecision(
        route_id=route_id,
        state=verdict.state,
        recommendation=verdict.recommendation,
        at_ns=now_ns,
        explanation=_explain(
            verdict, deciding, statuses, working, lowest, policy, calls[0][1] if calls else None
        ),
        sensors=tuple(statuses),
        silent=verdict.silent,
        deciding_sensor=None if deciding is None else deciding.device_id,
        predicted_minimum_c=None if lowest is None else lowest.prediction_minimum_c,
        predicted_minimum_at_ns=None if lowest is None else lowest.prediction_minimum_at_ns,
    )


def headline(decision: RouteDecision) -> str:
    """One line for an alert's summary: route, call, why, and from which sensor."""
    words = _STATE_WORDS[decision.state]
    if decision.explanation.startswith(_AHEAD_OF_FROST):
        words = "frost forecast"
    elif decision.explanation.startswith(_UNTIL_CLEAR):
        words = "froze earlier, not yet clear"
    text = f"Route {decision.route_id}: {decision.recommendation}, {words}"
    deciding = next((s for s in decision.sensors if s.device_id == decision.deciding_sensor), None)
    if deciding is not None and deciding.latest_c is not None and deciding.latest_at_ns is not None:
        text += (
            f" ({deciding.device_id} {celsius(deciding.latest_c)} "
            f"at {local_hhmm(deciding.latest_at_ns)})"
        )
    return text


def local_hhmm(time_ns: int) -> str:
    """HH:MM in UK local time (GMT or BST), as the duty officer's clock shows it."""
    return datetime.fromtimestamp(time_ns // 1_000_000_000, LOCAL_ZONE).strftime("%H:%M")


def celsius(value: float) -> str:
    """A temperature as people write it: +1.0 °C, 0.0 °C, -2.3 °C."""
    rounded = round(value, 1)
    return "0.0 °C" if rounded == 0 else f"{rounded:+.1f} °C"


@dataclass(frozen=True, slots=True)
class _Forecast:
    device_id: str
    prediction_minimum_c: float
    prediction_minimum_at_ns: int | None
    model: str
    falls: bool


def _ahead_of_frost(
    statuses: Sequence[SensorStatus],
    ahead: Mapping[str, TreatAhead] | None,
    policy: GrittingPolicy,
) -> list[tuple[SensorStatus, TreatAhead]]:
    """The MARGINAL sensors calling TREAT, coldest call first (none when the policy has
    forecast-driven TREAT switched off: GRITTING.md's table exactly)."""
    if not ahead or policy.treat_when_forecast_at_or_below_c is None:
        return []
    found = [
        (status, ahead[status.device_id])
        for status in statuses
        if status.state is SensorState.MARGINAL and status.device_id in ahead
    ]
    return sorted(found, key=lambda pair: (pair[1].coldest_c, pair[0].device_id))


def _coldness(state: SensorState) -> int:
    return state.coldness


def _deciding(working: Sequence[SensorStatus]) -> SensorStatus | None:
    """The worst state's sensor; among equals the one with the coldest reading or forecast."""
    if not working:
        return None
    return max(
        working, key=lambda status: (status.state.coldness, -_coldest_c(status), status.device_id)
    )


def _coldest_c(status: SensorStatus) -> float:
    values = [status.latest_c]
    if status.prediction is not None:
        values.append(status.prediction.minimum_c)
    known = [value for value in values if value is not None]
    return min(known) if known else float("inf")


def _lowest_forecast(working: Sequence[SensorStatus]) -> _Forecast | None:
    forecasts = [
        _Forecast(
            s.device_id,
            s.prediction.minimum_c,
            s.prediction.minimum_at_ns,
            s.prediction.model,
            s.prediction.minimum_at_ns != s.latest_at_ns,
        )
        for s in working
        if s.prediction is not None and s.prediction.minimum_c is not None
    ]
    return min(forecasts, key=lambda f: (f.prediction_minimum_c, f.device_id), default=None)


def _explain(
    verdict: RouteVerdict,
    deciding: SensorStatus | None,
    statuses: Sequence[SensorStatus],
    working: Sequence[SensorStatus],
    lowest: _Forecast | None,
    policy: GrittingPolicy,
    call: TreatAhead | None = None,
) -> str:
    by_id = {status.device_id: status for status in statuses}
    if deciding is None:
        return _explain_fail_safe(statuses, verdict.silent, policy)
    if call is not None:
        lead = _treat_ahead_words(deciding.device_id, call, policy)
    else:
        lead = f"{verdict.recommendation}: {_STATE_WORDS[verdict.state]}"
        if verdict.state is SensorState.MARGINAL and policy.precautionary:
            lead += " (precautionary route: marginal means treat)"
    parts = [lead + "."]
    at = "" if deciding.latest_at_ns is None else f" at {local_hhmm(deciding.latest_at_ns)}"
    if len(working) == 1:
        which = "Sensor"
    else:
        which = "Coldest sensor" if verdict.state is SensorState.CLEAR else "Deciding sensor"
    parts.append(f"{which} {deciding.device_id}{at}: {deciding.reason}.")
    if lowest is not None:
        when = (
            ""
            if lowest.prediction_minimum_at_ns is None
            else f" by {local_hhmm(lowest.prediction_minimum_at_ns)}"
        )
        whose = "" if lowest.device_id == deciding.device_id else f" at {lowest.device_id}"
        model = _MODEL_WORDS[lowest.model]
        if lowest.falls:
            parts.append(
                f"Lowest forecast {celsius(lowest.prediction_minimum_c)}{whose}{when} ({model})."
            )
        else:
            parts.append(f"No fall forecast{whose} ({model}).")
    others = [s for s in working if s.device_id != deciding.device_id]
    if others:
        listed = ", ".join(
            f"{s.device_id} {s.state}" + ("" if s.latest_c is None else f" ({celsius(s.latest_c)})")
            for s in sorted(others, key=lambda s: (-s.state.coldness, s.device_id))[:_LISTED_OTHERS]
        )
        more = len(others) - _LISTED_OTHERS
        parts.append(f"Other sensors: {listed}" + (f" and {more} more." if more > 0 else "."))
    if verdict.silent:
        parts.append(
            "Silent, their stretch is not watched: "
            + "; ".join(_silent_words(by_id[device]) for device in verdict.silent)
            + "."
        )
    return " ".join(parts)


def _treat_ahead_words(device_id: str, call: TreatAhead, policy: GrittingPolicy) -> str:
    """Why a MARGINAL route is TREAT: the frost forecast, or the freeze, behind the call."""
    made_at = local_hhmm(call.made_at_ns)
    forecast = call.forecast
    if forecast is None:
        return f"{_UNTIL_CLEAR}: {device_id} read {celsius(call.reading_c)} at {made_at}"
    minimum = call.coldest_c
    when = forecast.minimum_at_ns if forecast.minimum_at_ns is not None else call.made_at_ns
    level = policy.treat_when_forecast_at_or_below_c
    return (
        f"{_AHEAD_OF_FROST}: {device_id} forecast at {made_at} to reach "
        f"{celsius(minimum)} by {local_hhmm(when)} ({_FIT_WORDS[forecast.model]} on "
        f"{forecast.points_used} readings; a forecast at or below "
        f"{celsius(level if level is not None else policy.freezing_threshold_c)} means treat)"
    )


def _explain_fail_safe(
    statuses: Sequence[SensorStatus], silent: Sequence[str], policy: GrittingPolicy
) -> str:
    lead = f"{Recommendation.TREAT} (fail safe): "
    if not statuses:
        return lead + "no road sensor is registered on this route, so nothing watches it."
    heard = [s for s in statuses if s.latest_at_ns is not None or s.device_id in silent]
    if not heard:
        names = ", ".join(sorted(s.device_id for s in statuses))
        return lead + f"no reading has arrived yet from this route's sensors ({names})."
    described = "; ".join(_silent_words(s) for s in sorted(statuses, key=lambda s: s.device_id))
    return (
        lead
        + "no sensor on this route has a valid reading in the last "
        + f"{policy.silence_minutes:.0f} min "
        + f"({described}). Treat as if icy until data returns."
    )


def _silent_words(status: SensorStatus) -> str:
    if status.latest_at_ns is None:
        return f"{status.device_id} {status.reason}"
    return (
        f"{status.device_id} last valid reading {celsius(status.latest_c or 0.0)} at "
        f"{local_hhmm(status.latest_at_ns)}"
        + ("" if "invalid" not in status.reason else f" ({status.reason.split('; ', 1)[-1]})")
    )

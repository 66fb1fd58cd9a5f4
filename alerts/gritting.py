"""The gritting engine: observations in, route decisions and alert conditions out.

`GrittingEngine` holds one `SensorTracker` per road sensor per route (a route's policy
applies to its sensors), the latest dew point heard on each route, and each route's
last verdict. `observe` touches only the routes of the device that spoke, and builds
an explanation only when a verdict changed; `advance` moves the clock so silence is
noticed when nothing arrives. Nothing here reads a clock or does I/O, so a replay of
a stored season gives exactly the decisions the live system gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerts.clock import iso_utc
from alerts.model import (
    Condition,
    Observation,
    Recommendation,
    RouteDecision,
    SensorStatus,
    Severity,
)
from alerts.policy import GrittingPolicy
from alerts.route import RouteVerdict, TreatAhead, decide_route, headline, judge_route
from alerts.sensor import SensorTracker
from decoders import dew_point as magnus_dew_point

RST = "road_surface_temperature"
DEW_POINT = "dew_point"
AIR_TEMPERATURE = "air_temperature"
RELATIVE_HUMIDITY = "relative_humidity"
SURFACE_WET = "surface_wet"


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """A route as the engine needs it: its policy and the road sensors registered on it."""

    route_id: str
    policy: GrittingPolicy
    sensors: frozenset[str]


@dataclass(slots=True)
class _Route:
    plan: RoutePlan
    trackers: dict[str, SensorTracker]
    verdict: RouteVerdict
    statuses: tuple[SensorStatus, ...] = ()
    ahead: dict[str, TreatAhead] = field(default_factory=dict)
    evaluated_at_ns: int = 0
    decision: RouteDecision | None = None
    next_deadline_ns: int | None = None


class GrittingEngine:
    """Every route's gritting decision, kept up to date one observation at a time."""

    def __init__(self, plans: Iterable[RoutePlan]) -> None:
        self._routes: dict[str, _Route] = {}
        self._routes_of_device: dict[str, tuple[str, ...]] = {}
        self._route_dew: dict[str, tuple[int, float]] = {}
        self._now_ns: int | None = None
        self.replace_plans(plans)

    @property
    def now_ns(self) -> int | None:
        """The data clock: the latest observation or `advance` time seen (None before any)."""
        return self._now_ns

    def replace_plans(self, plans: Iterable[RoutePlan]) -> list[RouteDecision]:
        """Take up a changed registry, keeping every sensor's history.

        Cheap when nothing changed (it may be called every minute). Returns the
        decisions of changed routes whose verdict changed with them.
        """
        routes: dict[str, _Route] = {}
        replanned: list[_Route] = []
        for plan in plans:
            if plan.route_id in routes:
                raise ValueError(f"route {plan.route_id!r} is planned twice")
            old = self._routes.get(plan.route_id)
            if old is not None and old.plan == plan:
                routes[plan.route_id] = old
                continue
            trackers: dict[str, SensorTracker] = {}
            for device in sorted(plan.sensors):
                tracker = old.trackers.get(device) if old is not None else None
                if tracker is None:
                    tracker = SensorTracker(device, plan.policy, created_at_ns=self._now_ns)
                else:
                    tracker.set_policy(plan.policy)
                trackers[device] = tracker
            if old is None:
                route = _Route(plan, trackers, judge_route((), (), plan.policy))
            else:
                route = old
                route.plan, route.trackers = plan, trackers
            routes[plan.route_id] = route
            replanned.append(route)
        self._routes = routes
        devices: dict[str, list[str]] = {}
        for route_id, route in routes.items():
            for device in route.trackers:
                devices.setdefault(device, []).append(route_id)
        self._routes_of_device = {device: tuple(ids) for device, ids in devices.items()}
        self._route_dew = {r: dew for r, dew in self._route_dew.items() if r in routes}
        if self._now_ns is None:
            for route in replanned:
                route.decision = None
            return []
        changed = []
        for route in replanned:
            decision = self._evaluate(route)
            if decision is not None:
                changed.append(decision)
        return changed

    def observe(self, observation: Observation) -> list[RouteDecision]:
        """Apply one uplink's readings; returns the routes whose state, recommendation or
        set of silent sensors changed."""
        return self._evaluate_routes(self._record(observation))

    def observe_many(self, observations: Iterable[Observation]) -> list[RouteDecision]:
        """Apply several uplinks' readings, then judge each route they touched once, at the
        newest data time: how a backlog is caught up (`AlertEngine`).

        Every reading is kept (trends, plausibility, freshness see them all); only the
        judgement in between is skipped, so the work follows the number of routes, not
        of readings. The result is the routes whose verdict changed since their last one.
        """
        touched: set[str] = set()
        for observation in observations:
            touched |= self._record(observation)
        return self._evaluate_routes(touched)

    def _record(self, observation: Observation) -> set[str]:
        """Take one uplink's readings into the trackers; the routes they touch."""
        time_ns = observation.time_ns
        self._move_clock(time_ns)
        values = observation.values
        device = observation.device_id
        own_routes = self._routes_of_device.get(device, ())
        touched: set[str] = set()

        dew = _dew_point(values)
        if dew is not None:
            dew_routes = set(own_routes)
            if observation.route_id is not None and observation.route_id in self._routes:
                dew_routes.add(observation.route_id)
            for route_id in dew_routes:
                known = self._route_dew.get(route_id)
                if known is None or time_ns >= known[0]:
                    self._route_dew[route_id] = (time_ns, dew)
                    touched.add(route_id)

        if own_routes:
            rst = values.get(RST)
            flagged = observation.flagged.get(RST)
            wet = values.get(SURFACE_WET)
            for route_id in own_routes:
                tracker = self._routes[route_id].trackers[device]
                if dew is not None:
                    tracker.set_dew_point(time_ns, dew)
                if wet is not None:
                    tracker.set_surface_wet(time_ns, wet >= 0.5)
                if rst is not None:
                    tracker.add_reading(time_ns, rst)
                elif flagged is not None:
                    tracker.add_flagged(time_ns, flagged)
                else:
                    continue
                touched.add(route_id)
        return touched

    def _evaluate_routes(self, touched: set[str]) -> list[RouteDecision]:
        changed: list[RouteDecision] = []
        for route_id in sorted(touched):
            decision = self._evaluate(self._routes[route_id])
            if decision is not None:
                changed.append(decision)
        return changed

    def advance(self, now_ns: int) -> list[RouteDecision]:
        """Move the data clock to `now_ns` (never back); returns routes that changed (silence)."""
        self._move_clock(now_ns)
        assert self._now_ns is not None
        now = self._now_ns
        changed: list[RouteDecision] = []
        for route in self._routes.values():
            if route.next_deadline_ns is not None and now > route.next_deadline_ns:
                decision = self._evaluate(route)
                if decision is not None:
                    changed.append(decision)
        return changed

    def decisions(self) -> dict[str, RouteDecision]:
        """The current decision of every route, as last evaluated."""
        result: dict[str, RouteDecision] = {}
        for route_id, route in self._routes.items():
            if route.decision is None:
                route.decision = self._build(route)
            result[route_id] = route.decision
        return result

    # -- inside ---------------------------------------------------------------------------

    def _move_clock(self, time_ns: int) -> None:
        if self._now_ns is None:
            self._now_ns = time_ns
            for route in self._routes.values():
                for tracker in route.trackers.values():
                    if tracker.created_at_ns is None:
                        tracker.created_at_ns = time_ns
                route.next_deadline_ns = _next_deadline(route, time_ns)
        elif time_ns > self._now_ns:
            self._now_ns = time_ns

    def _evaluate(self, route: _Route) -> RouteDecision | None:
        """Re-judge a route at the data clock; the decision when its verdict changed."""
        now = self._now_ns
        assert now is not None
        dew = self._route_dew.get(route.plan.route_id)
        statuses = tuple(
            tracker.status(now, route_dew_point=dew) for tracker in route.trackers.values()
        )
        silent = [device for device, tracker in route.trackers.items() if tracker.is_silent(now)]
        ahead = {
            device: call
            for device, tracker in route.trackers.items()
            if (call := tracker.treat_ahead) is not None
        }
        verdict = judge_route(statuses, silent, route.plan.policy, ahead)
        previous = route.verdict
        route.verdict = verdict
        route.statuses = statuses
        route.ahead = ahead
        route.evaluated_at_ns = now
        route.next_deadline_ns = _next_deadline(route, now)
        route.decision = None  # rebuilt when asked for: the numbers in it moved on
        if verdict == previous:
            return None
        decision = self._build(route)
        route.decision = decision
        return decision

    def _build(self, route: _Route) -> RouteDecision:
        """The full decision from the route's last evaluation (or, before any, from nothing)."""
        statuses, at_ns = route.statuses, route.evaluated_at_ns
        if not statuses and route.trackers:
            at_ns = self._now_ns if self._now_ns is not None else 0
            statuses = tuple(tracker.status(at_ns) for tracker in route.trackers.values())
        return decide_route(
            route.plan.route_id,
            statuses,
            route.verdict.silent,
            route.plan.policy,
            at_ns,
            route.ahead,
        )


def _next_deadline(route: _Route, now_ns: int) -> int | None:
    """The earliest data time at which one of the route's sensors falls silent."""
    deadlines = [
        deadline
        for tracker in route.trackers.values()
        if (deadline := tracker.silent_deadline_ns()) is not None and deadline >= now_ns
    ]
    return min(deadlines, default=None)


def _dew_point(values: Mapping[str, float]) -> float | None:
    """The uplink's dew point: measured, or by Magnus from air temperature and humidity."""
    measured = values.get(DEW_POINT)
    if measured is not None:
        return measured
    air = values.get(AIR_TEMPERATURE)
    humidity = values.get(RELATIVE_HUMIDITY)
    if air is None or humidity is None:
        return None
    try:
        return magnus_dew_point(air, humidity)
    except ValueError:
        return None


def gritting_conditions(decision: RouteDecision) -> list[Condition]:
    """The alert conditions a route decision raises or clears: the gritting call, silent sensors."""
    route_id = decision.route_id
    detail = decision_json(decision)
    recommendation = decision.recommendation
    severity = {
        Recommendation.TREAT: Severity.CRITICAL,
        Recommendation.MONITOR: Severity.WARNING,
        Recommendation.NO_ACTION: Severity.INFO,
    }[recommendation]
    gritting = Condition(
        key=f"gritting:{route_id}",
        rule="gritting",
        active=recommendation is not Recommendation.NO_ACTION,
        severity=severity,
        at_ns=decision.at_ns,
        summary=headline(decision),
        explanation=detail,
        route_id=route_id,
        domain="road",
    )
    silent = decision.silent
    sensors = Condition(
        key=f"silent_sensors:{route_id}",
        rule="silent_sensors",
        active=bool(silent),
        severity=Severity.WARNING,
        at_ns=decision.at_ns,
        summary=(
            f"Route {route_id}: no valid reading from {', '.join(silent)}"
            if silent
            else f"Route {route_id}: every sensor reporting"
        ),
        explanation={**detail, "silent_sensors": list(silent)},
        route_id=route_id,
        domain="road",
    )
    return [gritting, sensors]


def decision_json(decision: RouteDecision) -> dict[str, object]:
    """A route decision as JSON-able values (times ISO 8601 UTC) for alerts and the API."""
    deciding = next((s for s in decision.sensors if s.device_id == decision.deciding_sensor), None)
    return {
        "route_id": decision.route_id,
        "at": iso_utc(decision.at_ns),
        "state": str(decision.state),
        "recommendation": str(decision.recommendation),
        "deciding_sensor": decision.deciding_sensor,
        "reading_c": None if deciding is None else deciding.latest_c,
        "reading_at": None
        if deciding is None or deciding.latest_at_ns is None
        else iso_utc(deciding.latest_at_ns),
        "rule": None if deciding is None else deciding.reason,
        "predicted_minimum_c": decision.predicted_minimum_c,
        "predicted_minimum_at": (
            None
            if decision.predicted_minimum_at_ns is None
            else iso_utc(decision.predicted_minimum_at_ns)
        ),
        "silent": list(decision.silent),
        "explanation": decision.explanation,
        "sensors": [_status_json(status) for status in decision.sensors],
    }


def _status_json(status: SensorStatus) -> dict[str, object]:
    prediction = status.prediction
    return {
        "device_id": status.device_id,
        "state": str(status.state),
        "reason": status.reason,
        "reading_c": status.latest_c,
        "reading_at": None if status.latest_at_ns is None else iso_utc(status.latest_at_ns),
        "dew_point_c": status.dew_point_c,
        "surface_wet": status.surface_wet,
        "forecast": None
        if prediction is None
        else {
            "model": prediction.model,
            "minimum_c": prediction.minimum_c,
            "minimum_at": None
            if prediction.minimum_at_ns is None
            else iso_utc(prediction.minimum_at_ns),
            "note": prediction.note,
        },
    }

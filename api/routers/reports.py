"""The season report: per route, nights the sensors said to treat, nights treated, avoidable
runs and what they cost (salt, fuel, driver hours). The council's evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from alerts.model import Recommendation, RouteDecision, SensorState
from alerts.season import season_report
from api.auth import AnyKey
from api.deps import RegistryDep
from api.refusals import KEY_NEEDED, invalid
from storage.registry import FieldProblem, RouteTransitionRecord

router = APIRouter(prefix="/reports", tags=["gritting"], responses=KEY_NEEDED)

MAX_NIGHTS = 366
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)


@router.get("/season", summary="Season report")
def season(
    _: AnyKey,
    registry: RegistryDep,
    first_evening: Annotated[
        date | None,
        Query(
            alias="from",
            description="First night (its evening's date). Default: a year before 'to'.",
            examples=["2026-11-01"],
        ),
    ] = None,
    last_evening: Annotated[
        date | None,
        Query(
            alias="to",
            description="Last night (its evening's date). Default: today, or a year after 'from'.",
            examples=["2027-04-15"],
        ),
    ] = None,
    route: Annotated[str | None, Query(description="One route; default every route.")] = None,
) -> dict[str, Any]:
    """Per route and in total: nights (18:00–10:00 UK time) the sensors said TREAT, nights
    treated (from the treatment log), treated nights on which the sensors never left CLEAR
    (avoidable runs), and the salt (tonnes), fuel (litres) and driver hours those cost.
    Cost assumptions are in the report; see docs/decisions/0009-season-report.md."""
    first_evening, last_evening = _season_span(first_evening, last_evening)
    routes = [r for r in registry.routes() if route is None or r.route_id == route]
    if route is not None and not routes:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no route '{route}' is registered")
    until = _morning_after(last_evening)
    transitions = registry.route_transitions(route_id=route, until=until)
    treatments = registry.treatments(route_id=route, until=until)
    return season_report(
        [_decision(t) for t in transitions],
        treatments,
        routes,
        first_evening=first_evening,
        last_evening=last_evening,
    )


def _season_span(first: date | None, last: date | None) -> tuple[date, date]:
    """The nights asked for, at most MAX_NIGHTS of them; by default the last year's."""
    problems = [
        FieldProblem(name, f"'{name}' must be a date between 2000 and 2100")
        for name, value in (("from", first), ("to", last))
        if value is not None and not EARLIEST <= value <= LATEST
    ]
    if problems:
        raise invalid(problems, where="query")
    if first is None and last is None:
        last = datetime.now(UTC).date()
    if first is None:
        assert last is not None
        first = last - timedelta(days=MAX_NIGHTS - 1)
    if last is None:
        last = first + timedelta(days=MAX_NIGHTS - 1)
    if last < first:
        raise invalid([FieldProblem("to", "'to' is before 'from'")], where="query")
    if (last - first).days >= MAX_NIGHTS:
        raise invalid(
            [FieldProblem("to", f"at most {MAX_NIGHTS} nights per report")], where="query"
        )
    return first, last


def _decision(transition: RouteTransitionRecord) -> RouteDecision:
    """A stored transition as the decision the report reads (state, recommendation, time)."""
    return RouteDecision(
        route_id=transition.route_id,
        state=SensorState(transition.state),
        recommendation=Recommendation(transition.recommendation),
        at_ns=int(transition.at.timestamp()) * 1_000_000_000 + transition.at.microsecond * 1000,
        explanation=transition.explanation,
    )


def _morning_after(evening: date) -> datetime:
    return datetime.combine(evening + timedelta(days=2), time(0, 0), UTC)

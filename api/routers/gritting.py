"""The gritting board: every route's state, recommendation and explanation, and its history.

Decisions are made by the alert engine where uplinks arrive and kept in the registry,
so every API replica answers the same. A route with no decision yet is shown as
UNKNOWN with TREAT: a route nobody can vouch for is never shown as clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import AnyKey
from api.deps import RegistryDep
from api.refusals import KEY_NEEDED
from api.routers.routes import NO_ROUTE, known_route
from api.schemas.alerts import Board, RouteStatus, Transition, TransitionList
from storage.registry import RouteRecord, RouteStatusRecord

router = APIRouter(tags=["gritting"], responses=KEY_NEEDED)

NOT_DECIDED = (
    "No decision yet: no reading from this route's sensors has been evaluated since "
    "wherry started. Treat as unknown (fail safe)."
)


@router.get("/board", summary="The gritting board", response_model=Board)
def board(_: AnyKey, registry: RegistryDep) -> Board:
    """Every route with its state, recommendation and explanation, priority 1 first."""
    decided = {status.route_id: status for status in registry.route_statuses()}
    routes = sorted(registry.routes(), key=lambda r: (r.priority, r.route_id))
    shown = [_status(route, decided.get(route.route_id)) for route in routes]
    return Board(count=len(shown), routes=shown)


@router.get(
    "/routes/{route_id}/status",
    summary="A route's current decision",
    response_model=RouteStatus,
    responses=NO_ROUTE,
)
def route_status(_: AnyKey, route_id: str, registry: RegistryDep) -> RouteStatus:
    """State, recommendation and explanation of one route, with every sensor's detail."""
    route = known_route(registry, route_id)
    decided = {status.route_id: status for status in registry.route_statuses()}
    return _status(route, decided.get(route_id))


@router.get(
    "/routes/{route_id}/transitions",
    summary="A route's changes of state",
    response_model=TransitionList,
    responses=NO_ROUTE,
)
def route_transitions(
    _: AnyKey,
    route_id: str,
    registry: RegistryDep,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601).")] = None,
) -> TransitionList:
    """Every change of the route's state or recommendation, oldest first."""
    known_route(registry, route_id)
    found = registry.route_transitions(route_id=route_id, since=since, until=until)
    return TransitionList(
        route_id=route_id, count=len(found), transitions=[Transition.of(t) for t in found]
    )


def _status(route: RouteRecord, status: RouteStatusRecord | None) -> RouteStatus:
    if status is None:
        return RouteStatus(
            route_id=route.route_id,
            name=route.name,
            priority=route.priority,
            state="UNKNOWN",
            recommendation="TREAT",
            at=None,
            explanation=NOT_DECIDED,
            detail={},
        )
    return RouteStatus.of(status, route.name, route.priority)

"""Gritting routes: list, read, create, change and delete them; import and export the CSV.

Routes are deleted rather than retired: a route has no uplinks of its own, the audit
log keeps its last state, and one that devices (retired ones too) still name cannot
be deleted (409 naming them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from alerts.policy import GrittingPolicy, PolicyError
from api.auth import AnyKey, Engineer
from api.csv_bodies import (
    CsvBody,
    csv_request_body,
    csv_response,
    csv_response_doc,
    import_refused,
    import_report,
    number_cell,
)
from api.deps import RegistryDep
from api.refusals import KEY_NEEDED, conflict, invalid, not_found, registry_refusals
from api.schemas.registry import ImportReport, NewRoute, Route, RouteChanges, RouteList
from storage.registry import (
    ROUTE_COLUMNS,
    FieldProblem,
    ImportRejected,
    Registry,
    RouteDraft,
    RouteRecord,
    parse_route_csv,
)

router = APIRouter(prefix="/routes", tags=["routes"], responses=KEY_NEEDED)

NO_ROUTE = not_found("route")

ROUTES_CSV_EXAMPLE = (
    ",".join(ROUTE_COLUMNS) + "\n"
    "matlock-bank,Matlock Bank: Bank Road and Smedley Street,6.4,1,Matlock\n"
)


@router.get("", summary="List routes", response_model=RouteList)
def list_routes(_: AnyKey, registry: RegistryDep) -> RouteList:
    """Every gritting route, ordered by id."""
    routes = registry.routes()
    return RouteList(count=len(routes), routes=[Route.of(r) for r in routes])


@router.get(
    "/export.csv",
    summary="Export routes as CSV",
    response_class=Response,
    responses=csv_response_doc(
        ROUTES_CSV_EXAMPLE, "The import's columns: edit the file and import it again"
    ),
)
def export_routes(_: AnyKey, registry: RegistryDep) -> Response:
    """Every route in exactly the columns `POST /routes/import` reads. Policy overrides,
    spread rate and width are not in the CSV and keep their values on import."""
    return csv_response(
        ROUTE_COLUMNS, [_route_cells(route) for route in registry.routes()], "routes.csv"
    )


@router.post(
    "/import",
    summary="Import routes from CSV",
    response_model=ImportReport,
    openapi_extra={"requestBody": csv_request_body(ROUTES_CSV_EXAMPLE)},
)
def import_routes(
    caller: Engineer,
    registry: RegistryDep,
    text: CsvBody,
    dry_run: Annotated[
        bool, Query(description="Check every row and change nothing.", examples=[True])
    ] = False,
) -> ImportReport:
    """Create or update routes from a CSV (`text/csv`, or JSON `{"csv": "…"}`).

    Columns: `route_id,name,length_km,priority,area`. `?dry_run=true` reports every bad
    row and changes nothing; otherwise all rows are applied or none (422 listing every
    bad row). Every change is in the audit log under your key.
    """
    parsed = parse_route_csv(text)
    if dry_run:
        return import_report(
            dry_run=True, valid_rows=len(parsed.rows), errors=parsed.errors, applied=0
        )
    if parsed.errors:
        raise import_refused(parsed.errors)
    try:
        applied = registry.apply_route_import(parsed.rows, actor=caller.actor)
    except ImportRejected as rejected:
        raise import_refused(rejected.errors) from rejected
    return import_report(dry_run=False, valid_rows=len(parsed.rows), errors=[], applied=applied)


@router.get("/{route_id}", summary="One route", response_model=Route, responses=NO_ROUTE)
def get_route(_: AnyKey, route_id: str, registry: RegistryDep) -> Route:
    """A gritting route with its policy overrides."""
    return Route.of(known_route(registry, route_id))


def known_route(registry: Registry, route_id: str) -> RouteRecord:
    """The registered route, or the API's 404 for it."""
    record = registry.route(route_id)
    if record is None:
        raise HTTPException(404, detail=f"no route '{route_id}' is registered")
    return record


@router.post(
    "",
    summary="Create a route",
    response_model=Route,
    status_code=status.HTTP_201_CREATED,
    responses=conflict("The route_id is already registered"),
)
def create_route(caller: Engineer, route: NewRoute, registry: RegistryDep) -> Route:
    """Create one route. Every broken rule comes back at once (422, one entry per field).
    `policy` overrides are checked against the gritting policy's settings (docs/alerts.md)."""
    _check_policy(route.policy)
    with registry_refusals():
        record = registry.create_route(RouteDraft(**route.model_dump()), actor=caller.actor)
    return Route.of(record)


@router.patch(
    "/{route_id}",
    summary="Change a route",
    response_model=Route,
    responses=not_found("route"),
)
def update_route(
    caller: Engineer, route_id: str, changes: RouteChanges, registry: RegistryDep
) -> Route:
    """Change only the fields sent; `null` clears an optional one. `policy` is replaced
    as a whole (send `{}` to drop every override)."""
    _check_policy(changes.policy)
    with registry_refusals():
        record = registry.update_route(
            route_id, changes.model_dump(exclude_unset=True), actor=caller.actor
        )
    return Route.of(record)


@router.delete(
    "/{route_id}",
    summary="Delete a route",
    response_model=Route,
    responses={
        **not_found("route"),
        **conflict("Devices are still on the route; the detail names them"),
    },
)
def delete_route(caller: Engineer, route_id: str, registry: RegistryDep) -> Route:
    """Delete a route no device is on (retired devices count); returns what it was."""
    with registry_refusals():
        return Route.of(registry.delete_route(route_id, actor=caller.actor))


def _route_cells(route: RouteRecord) -> list[str]:
    return [
        route.route_id,
        route.name or "",
        number_cell(route.length_km),
        str(route.priority),
        route.area or "",
    ]


def _check_policy(policy: object) -> None:
    """Refuse overrides the alert engine could not use, with its own words, at the edge."""
    if policy is None:
        return
    if not isinstance(policy, Mapping):
        raise invalid([FieldProblem("policy", "policy must be a JSON object of overrides")])
    try:
        GrittingPolicy().with_overrides(policy)
    except PolicyError as exc:
        raise invalid([FieldProblem("policy", str(exc))]) from exc

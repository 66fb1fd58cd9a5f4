"""One route's page: its last day on a chart, the decision and why, alerts and treatments.

Anyone signed in reads it. Highways and admins also act on it: acknowledge a road alert
and log a treatment, through plain forms (CSRF-checked, errors beside their fields)
that do what `POST /api/v1/alerts/{id}/acknowledge` and `POST /api/v1/treatments` do,
audited under the signed-in key. After a form succeeds the page redirects to itself
(post/redirect/get), so reloading never logs a run twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.model import AlertEvent
from api.auth import Caller
from api.deps import ServicesDep
from api.pages.board_view import (
    RECOMMENDATIONS,
    STATES,
    celsius,
    freshest_reading,
    moment,
    route_view,
)
from api.pages.route_chart import route_chart
from api.pages.session import CSRF_FIELD, PageForbidden, check_form, require
from api.pages.templating import render
from api.pages.treatment_form import TreatmentForm, read_treatment
from api.roles import ANY_KEY, HIGHWAYS, RESPONDERS, Role
from api.services import Services
from storage.registry import AlertRecord, ChangeRejected, NotRegistered, RouteRecord

router = APIRouter()

RECENT = timedelta(days=14)
"""How far back the page lists treatments and changes of state."""
SHOWN = 20
NOTICES = {
    "acknowledged": "Alert acknowledged.",
    "treatment": "Treatment logged.",
}
"""Fixed words for `?done=`: a query string never puts its own text on the page."""

CsrfToken = Annotated[str | None, Form(alias=CSRF_FIELD)]
Reader = Annotated[Caller, require(ANY_KEY)]
Responder = Annotated[Caller, require(RESPONDERS)]
"""May acknowledge alerts; road alerts are further kept to highways (`may_acknowledge`)."""
Highways = Annotated[Caller, require(HIGHWAYS)]


@router.get("/routes/{route_id}", response_class=HTMLResponse)
def route_page(
    request: Request,
    route_id: str,
    services: ServicesDep,
    caller: Reader,
    done: str | None = None,
) -> HTMLResponse:
    route = services.registry.route(route_id)
    if route is None:
        return _no_route(request, route_id)
    return _page(request, services, route, caller, notice=NOTICES.get(done or ""))


@router.post("/routes/{route_id}/alerts/{alert_id}/acknowledge")
def acknowledge(
    request: Request,
    route_id: str,
    alert_id: int,
    services: ServicesDep,
    caller: Responder,
    token: CsrfToken = None,
) -> Response:
    """Acknowledge one of this route's open alerts (road alerts: highways and admins)."""
    check_form(request, token)
    route = services.registry.route(route_id)
    alert = services.registry.alert(alert_id)
    if route is None or alert is None or alert.route_id != route_id:
        return _no_route(request, route_id, alert_id)
    if not may_acknowledge(caller, alert):
        assert caller.role is not None
        raise PageForbidden(caller.role, HIGHWAYS)
    if alert.status == "cleared":
        problem = "That alert has cleared already: there is nothing to acknowledge."
        return _page(request, services, route, caller, problem=problem, status_code=409)
    try:
        acknowledged = services.registry.acknowledge_alert(alert_id, actor=caller.actor)
    except (ChangeRejected, NotRegistered) as refused:
        return _page(request, services, route, caller, problem=str(refused), status_code=409)
    if services.announce is not None and alert.status != "acknowledged":
        services.announce(AlertEvent("acknowledged", acknowledged, acknowledged.updated_at))
    return _back(route_id, "acknowledged", "alerts")


@router.post("/routes/{route_id}/treatments")
def log_treatment(
    request: Request,
    route_id: str,
    services: ServicesDep,
    caller: Highways,
    token: CsrfToken = None,
    started_at: Annotated[str, Form(max_length=64)] = "",
    ended_at: Annotated[str, Form(max_length=64)] = "",
    spread_rate_g_m2: Annotated[str, Form(max_length=32)] = "",
    notes: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Log a gritting run on this route; problems come back beside their fields (422)."""
    check_form(request, token)
    route = services.registry.route(route_id)
    if route is None:
        return _no_route(request, route_id)
    typed = {
        "started_at": started_at,
        "ended_at": ended_at,
        "spread_rate_g_m2": spread_rate_g_m2,
        "notes": notes,
    }
    treatment, form = read_treatment(route_id, typed, services.clock())
    if treatment is not None:
        try:
            services.registry.log_treatment(treatment, actor=caller.actor)
        except ChangeRejected as refused:
            form.errors.update({p.field: p.reason for p in refused.problems})
        else:
            return _back(route_id, "treatment", "treatments")
    return _page(request, services, route, caller, form=form, status_code=422)


def may_acknowledge(caller: Caller, alert: AlertRecord) -> bool:
    """The API's rule: road alerts are for highways (and admins), others for responders."""
    allowed = HIGHWAYS if alert.domain == "road" else RESPONDERS
    return caller.role in allowed


def _page(
    request: Request,
    services: Services,
    route: RouteRecord,
    caller: Caller,
    *,
    notice: str | None = None,
    problem: str | None = None,
    form: TreatmentForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = services.clock()
    registry = services.registry
    status = next((s for s in registry.route_statuses() if s.route_id == route.route_id), None)
    freshest = freshest_reading(services.store, route.route_id)
    view = route_view(route, status, freshest, now)
    alerts = registry.alerts(open_only=True, route_id=route.route_id, limit=50)
    since = now - RECENT
    treatments = registry.treatments(route_id=route.route_id, since=since)[::-1][:SHOWN]
    transitions = registry.route_transitions(route_id=route.route_id, since=since)[::-1][:SHOWN]
    context: dict[str, Any] = {
        "title": view.name,
        "route": route,
        "view": view,
        "chart": route_chart(services.store, route.route_id, view.name, now),
        "alerts": [(alert, may_acknowledge(caller, alert)) for alert in alerts],
        "treatments": treatments,
        "transitions": transitions,
        "may_log": caller.role in HIGHWAYS,
        "form": form or TreatmentForm.blank(now),
        "notice": notice,
        "problem": problem,
        "moment": lambda at: moment(at, now),
        "reader_only": caller.role not in HIGHWAYS,
        "role": caller.role or Role.reader,
        "states": STATES,
        "recommendations": RECOMMENDATIONS,
        "celsius": celsius,
    }
    return render(request, "route.html", context, status_code=status_code)


def _back(route_id: str, done: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/routes/{quote(route_id, safe='')}?done={done}#{anchor}", 303)


def _no_route(request: Request, route_id: str, alert_id: int | None = None) -> HTMLResponse:
    what = f"route {route_id!r}" if alert_id is None else f"alert {alert_id} on route {route_id!r}"
    message = f"There is no {what}. The gritting board lists every route."
    return render(
        request, "error.html", {"title": "Not found", "message": message}, status_code=404
    )

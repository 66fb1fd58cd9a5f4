"""The gritting board page, and the live stream that updates it in place.

Any signed-in key may read the board, as any key may read `GET /api/v1/board`: readers
(the council's partners) see the same decisions, and only highways and admins act on
them (on the route pages). The page works without script; `static/board.js` adds live
updates from `/board/events`, which relays the engine's `route` events as ready-made
cards. It authenticates by the session cookie because EventSource cannot send an
Authorization header; the JSON API never accepts the cookie.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from alerts.notify.broadcast import Broadcaster, Gap, StreamEvent
from api.auth import Caller
from api.deps import ServicesDep
from api.pages.board_view import (
    RouteView,
    freshest_reading,
    freshest_readings,
    route_view,
    sort_views,
    status_from_event,
)
from api.pages.session import PageCallerDep, require
from api.pages.templating import render, templates
from api.roles import ANY_KEY
from api.routers.stream import KEEP_ALIVE, STREAM_HEADERS, EventStreamResponse
from api.services import Services

router = APIRouter()
log = logging.getLogger(__name__)

BOARD_ROLES = ANY_KEY
"""Every role: the board only reads, and the JSON board is open to any key too."""
CARD = "_route_card.html"
BoardReader = Annotated[Caller, require(BOARD_ROLES)]


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, services: ServicesDep, _: BoardReader) -> HTMLResponse:
    """Every route, those to treat first, then by priority."""
    now = services.clock()
    decided = {status.route_id: status for status in services.registry.route_statuses()}
    freshest = freshest_readings(services.store)
    views = sort_views(
        [
            route_view(route, decided.get(route.route_id), freshest.get(route.route_id), now)
            for route in services.registry.routes()
        ]
    )
    counts = {code: sum(v.recommendation_code == code for v in views) for code in _CODES}
    context = {
        "title": "Gritting board",
        "views": views,
        "counts": counts,
        "live": services.broadcaster is not None,
        "now": now,
    }
    return render(request, "board.html", context)


_CODES = ("TREAT", "MONITOR", "NO_ACTION")


@router.get("/board/events")
async def board_events(
    services: ServicesDep,
    caller: PageCallerDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> Response:
    """`route` events as cards for board.js; 204 (EventSource stops) without an engine."""
    if caller.key_id is None:
        return PlainTextResponse("sign in first", status_code=401)
    if services.broadcaster is None:
        return Response(status_code=204)
    relay = _relay(services, services.broadcaster, caller.key_id, last_event_id)
    return EventStreamResponse(relay, headers=STREAM_HEADERS)


async def _relay(
    services: Services, broadcaster: Broadcaster, key_id: str, last_event_id: str | None
) -> AsyncIterator[str]:
    with broadcaster.listen(last_event_id) as listener:
        yield f"retry: {broadcaster.retry_ms}\n: wherry board\n\n"
        heartbeat_due = time.monotonic() + broadcaster.heartbeat_s
        while True:
            item = await listener.next(timeout=max(0.0, heartbeat_due - time.monotonic()))
            if item is None and listener.closed:
                return
            text: str | None = None
            if isinstance(item, Gap):
                text = "event: dropped\ndata: {}\n\n"  # the page reloads what it shows
            elif isinstance(item, StreamEvent) and item.name == "route":
                text = await run_in_threadpool(_safely, services, item)
            elif time.monotonic() >= heartbeat_due:
                text = KEEP_ALIVE
            if text is None:
                continue
            if not await run_in_threadpool(signed_in, services, key_id):
                yield "event: signed_out\ndata: {}\n\n"
                return
            yield text
            heartbeat_due = time.monotonic() + broadcaster.heartbeat_s


def signed_in(services: Services, key_id: str) -> bool:
    """Whether the session's key still works: revoking a key ends its live board too."""
    record = services.keys.get(key_id)
    if record is None or record.revoked_at is not None:
        return False
    return record.expires_at is None or record.expires_at > services.clock()


def _safely(services: Services, event: StreamEvent) -> str | None:
    """The event's lines, or None (and the page's minute resync shows it) when the registry
    or store cannot answer now: a reconnect would only replay the same event into the
    same failure."""
    try:
        return _route_event(services, event)
    except Exception:
        log.warning("board: route event %s not relayed", event.id, exc_info=True)
        return None


def _route_event(services: Services, event: StreamEvent) -> str | None:
    """The SSE lines for one route decision: the card as the board would draw it now."""
    status = status_from_event(event.data)
    route = None if status is None else services.registry.route(status.route_id)
    if status is None or route is None:
        return None
    freshest = freshest_reading(services.store, route.route_id)
    view = route_view(route, status, freshest, services.clock())
    body = {
        "route_id": view.route_id,
        "rank": view.rank,
        "at": None if view.decided is None else view.decided.iso,
        "announcement": view.announcement,
        "html": card(view),
    }
    return f"id: {event.id}\nevent: route\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


def card(view: RouteView) -> str:
    """One route's card, as the board page includes it."""
    return templates.get_template(CARD).render(view=view)

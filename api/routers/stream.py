"""The live stream: alert events and route decisions as Server-Sent Events, for any key.

A plain Starlette `StreamingResponse` writes the few lines SSE needs; the
`Broadcaster` does the hard part (never blocking the engine, bounded queues,
replay after a reconnect). Starlette ends the stream when the client goes away.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from alerts.notify.broadcast import Broadcaster, Gap, StreamEvent
from alerts.notify.payload import encode
from api.auth import AnyKey
from api.deps import ServicesDep
from api.schemas.registry import DomainName

router = APIRouter(tags=["stream"])

EXAMPLE = (
    "retry: 5000\n: wherry live stream\n\n"
    'id: 193f2a81c4e-7\nevent: alert\ndata: {"version":1,"event":"raised","alert_id":42,'
    '"route_id":"R12","domain":"road","severity":"critical","summary":"TREAT R12 Matlock A6",'
    "…}\n\n"
    ": keep-alive\n\n"
)
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEP_ALIVE = ": keep-alive\n\n"
ROUTE_EVENT_DOMAIN = "road"  # route decisions are gritting's, whether or not they say so


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless `text/event-stream`",
        "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EXAMPLE}},
    },
    204: {"description": "This process has no live events (the API runs without the engine)"},
    # Spelled out rather than `model=`: FastAPI would file a model under text/event-stream.
    401: {
        "description": "No API key, or one that is not valid",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                },
                "example": {"detail": "this needs an API key with one of the roles: admin, …"},
            }
        },
    },
}


@router.get(
    "/stream",
    summary="Live alerts and route decisions (Server-Sent Events)",
    response_class=EventStreamResponse,
    responses=RESPONSES,
)
async def live_stream(
    _: AnyKey,
    services: ServicesDep,
    route: Annotated[
        list[str] | None,
        Query(max_length=64, description="Only events on this route (repeatable).",
              examples=[["R12"]]),
    ] = None,
    domain: Annotated[
        list[DomainName] | None,
        Query(description="Only events of this domain (repeatable).", examples=[["road"]]),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(max_length=64, description="Sent by a reconnecting client: resume after it."),
    ] = None,
) -> Response:  # fmt: skip
    """Events as they happen: `alert` (an alert raised, escalated, acknowledged or
    cleared; the same JSON as webhooks) and `route` (a route's new state and
    recommendation). Each has an `id:`; a client that reconnects with `Last-Event-ID`
    gets what it missed while it is still kept, or a `dropped` event saying it must
    reload. A `dropped` event also tells a client that reads too slowly how many
    events it lost. A comment line every 15 s keeps proxies from closing the stream.

    `route` and `domain` narrow the stream (either may repeat); `dropped` events
    always come through.
    """
    broadcaster = services.broadcaster
    if broadcaster is None:
        return Response(status_code=204)
    wanted = _Filter(frozenset(route or ()), frozenset(domain or ()))
    return EventStreamResponse(_events(broadcaster, wanted, last_event_id), headers=STREAM_HEADERS)


@dataclass(frozen=True, slots=True)
class _Filter:
    routes: frozenset[str]
    domains: frozenset[str]

    def admits(self, event: StreamEvent) -> bool:
        if self.routes and _text(event.data, "route_id") not in self.routes:
            return False
        if self.domains:
            default = ROUTE_EVENT_DOMAIN if event.name == "route" else None
            return (_text(event.data, "domain") or default) in self.domains
        return True


async def _events(
    broadcaster: Broadcaster, wanted: _Filter, last_event_id: str | None
) -> AsyncIterator[str]:
    with broadcaster.listen(last_event_id) as listener:
        # Listening before the first line: a client that has read it misses nothing after.
        yield f"retry: {broadcaster.retry_ms}\n: wherry live stream\n\n"
        heartbeat_due = time.monotonic() + broadcaster.heartbeat_s
        while True:
            item = await listener.next(timeout=max(0.0, heartbeat_due - time.monotonic()))
            if item is None and listener.closed:
                return
            text = _render(item, wanted)
            if text is None and time.monotonic() >= heartbeat_due:
                text = KEEP_ALIVE  # quiet, or only events this client filtered out
            if text is not None:
                yield text
                heartbeat_due = time.monotonic() + broadcaster.heartbeat_s


def _render(item: StreamEvent | Gap | None, wanted: _Filter) -> str | None:
    """The lines for one event, or None when there is nothing for this client."""
    if isinstance(item, Gap):
        gap = encode({"missed": item.missed, "reason": item.reason}).decode()
        return f"event: dropped\ndata: {gap}\n\n"
    if isinstance(item, StreamEvent) and wanted.admits(item):
        return f"id: {item.id}\nevent: {item.name}\ndata: {item.json}\n\n"
    return None


def _text(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None

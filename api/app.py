"""The FastAPI application: versioned routers under /api/v1, operations at the root."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from api.metrics import LatencyMiddleware, Metrics
from api.pages import add_pages
from api.ratelimit import RateLimitMiddleware
from api.routers import (
    alerts,
    audit,
    dead_letters,
    decoders,
    devices,
    gritting,
    ingest,
    keys,
    open_data,
    operations,
    readings,
    reports,
    routes,
    sightings,
    stream,
    subscriptions,
    treatments,
)
from api.services import Services
from storage.errors import StoreRejected, StoreUnavailable
from storage.registry import RegistryUnavailable, SchemaNotCurrent

API_PREFIX = "/api/v1"

DESCRIPTION = """
wherry's HTTP API: LoRaWAN sensor readings from a county council's public network,
the device registry, and (soon) gritting decisions.

* **Open data** needs no key: every device marked public, its latest readings and its
  history, as JSON or CSV.
* **Everything else** needs an API key, sent as `Authorization: Bearer wherry_…` (or
  `X-API-Key: wherry_…`). Keys have one role: `admin`, `engineer`, `highways` or `reader`.

Times are ISO 8601 in UTC. Errors are JSON: `{"detail": "what was wrong"}`.
"""

TAGS = [
    {"name": "open data", "description": "Public sensors: no key needed."},
    {"name": "devices", "description": "Registering and fixing devices (engineers)."},
    {"name": "routes", "description": "Gritting routes (engineers)."},
    {"name": "readings", "description": "Readings of any device (any key)."},
    {"name": "decoders", "description": "Payload decoders and trying a payload."},
    {"name": "keys", "description": "API keys (admins)."},
    {"name": "audit", "description": "Every change, who made it and when (admins)."},
    {"name": "operations", "description": "Health, readiness and metrics."},
    {
        "name": "ingest",
        "description": "Webhooks of The Things Stack and ChirpStack (shared secret, not a key).",
    },
]

Gauges = Callable[[], dict[str, float]]


def create_app(services: Services, *, gauges: Gauges | None = None) -> FastAPI:
    """An app over `services`; `gauges` adds live figures (buffer depths) to /metrics."""
    app = FastAPI(
        title="wherry",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    app.state.metrics = Metrics(services.counters, gauges or dict)
    app.include_router(operations.router)
    app.include_router(ingest.router)  # outside /api/v1: network servers' URLs stay put
    for router in versioned_routers():
        app.include_router(router, prefix=API_PREFIX)
    add_pages(app)  # the people's pages at /, outside the versioned API
    app.add_middleware(RateLimitMiddleware, limit=services.rate_limit)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["Authorization", "X-API-Key", "Accept"],
        expose_headers=["Retry-After", "Link"],
    )
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics, prefix=API_PREFIX)
    _add_error_handlers(app)
    return app


def versioned_routers() -> list[APIRouter]:
    """The /api/v1 routers; each module owns one resource."""
    return [
        keys.router,
        readings.router,
        open_data.router,
        devices.router,
        routes.router,
        sightings.router,
        dead_letters.router,
        decoders.router,
        audit.router,
        gritting.router,
        alerts.router,
        treatments.router,
        subscriptions.router,
        stream.router,
        reports.router,
    ]


def _add_error_handlers(app: FastAPI) -> None:
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": f"temporarily unavailable: {exc}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    async def rejected(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    for error in (RegistryUnavailable, SchemaNotCurrent, StoreUnavailable):
        app.add_exception_handler(error, unavailable)
    app.add_exception_handler(StoreRejected, rejected)

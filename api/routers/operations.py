"""Health, readiness and metrics: what load balancers, systemd and Prometheus ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ServicesDep
from api.metrics import CONTENT_TYPE, Metrics
from storage.registry import Registry, RegistryError

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="`ready` or `not ready`", examples=["ready"])
    checks: dict[str, str] = Field(
        description="Each dependency and what it answered",
        examples=[{"registry": "ok", "store": "ok"}],
    )


@router.get("/healthz", summary="Is the process up?", response_model=Health)
def healthz() -> Health:
    """Answers as long as the process serves HTTP; says nothing about its dependencies."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Can it do its work?",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready"}},
)
def readyz(services: ServicesDep) -> Any:
    """200 when the registry answers at the current schema and the readings store answers."""
    checks = {"registry": _registry_check(services.registry)}
    try:
        checks["store"] = "ok" if services.store.ping() else "not answering"
    except Exception as exc:  # any failure of a dependency is "not ready", never a 500
        checks["store"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _registry_check(registry: Registry) -> str:
    try:
        current = registry.current_revision()
    except RegistryError as exc:
        return f"error: {exc}"
    if current != Registry.head_revision():
        return f"schema at {current}, needs {Registry.head_revision()}: run `wherry migrate`"
    return "ok"


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    """Uplinks received, stored and set aside by reason; store writes; API latency by route."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE)

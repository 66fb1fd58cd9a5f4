"""Health, readiness and metrics: what load balancers, systemd and Prometheus ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ServicesDep
from api.metrics import CONTENT_TYPE, Metrics
from gateway_bridge.spool import LEVEL_GAUGE
from storage.registry import Registry, RegistryError

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class SpoolState(BaseModel):
    """Points that reached the spool while the store was away and wait to be written."""

    points: int = Field(examples=[0])
    bytes: int = Field(description="Disk space the spool uses", examples=[0])
    quota_fraction: float = Field(description="`bytes` over WHERRY_SPOOL_QUOTA_MB", examples=[0.0])
    oldest_age_seconds: float = Field(
        description="How long the oldest spooled point has waited", examples=[0.0]
    )
    level: str = Field(
        description="`ok`; `warning` from 80 % of the quota; `full` when a batch did not fit "
        "(not ready: the bridge stops acknowledging) until it is back under 80 %",
        examples=["ok"],
    )


class Readiness(BaseModel):
    status: str = Field(description="`ready` or `not ready`", examples=["ready"])
    checks: dict[str, str] = Field(
        description="Each dependency and what it answered",
        examples=[{"registry": "ok", "store": "ok", "spool": "ok"}],
    )
    spool: SpoolState | None = Field(
        default=None, description="The bridge's spool, when this process runs one"
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
def readyz(services: ServicesDep, request: Request) -> Any:
    """200 when the registry answers at the current schema, the readings store answers and
    the spool is not full. Points waiting in the spool alone do not make it not ready."""
    checks = {"registry": _registry_check(services.registry)}
    try:
        checks["store"] = "ok" if services.store.ping() else "not answering"
    except Exception as exc:  # any failure of a dependency is "not ready", never a 500
        checks["store"] = f"error: {type(exc).__name__}"
    metrics: Metrics = request.app.state.metrics
    spool = _spool_state(metrics.gauges())
    if spool is not None:
        checks["spool"] = (
            f"full: {spool.points} points wait, {100 * spool.quota_fraction:.0f} % of the quota"
            if spool.level == "full"
            else "ok"
        )
    ready = all(value == "ok" for value in checks.values())
    body = Readiness(status="ready" if ready else "not ready", checks=checks, spool=spool)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ready else 503)


SPOOL_LEVEL_NAMES = {value: name for name, value in LEVEL_GAUGE.items()}


def _spool_state(gauges: dict[str, float]) -> SpoolState | None:
    """The spool's figures from the bridge's gauges (`wherry.bridge.Bridge.gauges`)."""
    if "spool_points" not in gauges:
        return None
    return SpoolState(
        points=int(gauges["spool_points"]),
        bytes=int(gauges.get("spool_bytes", 0)),
        quota_fraction=round(gauges.get("spool_quota_fraction", 0.0), 4),
        oldest_age_seconds=round(gauges.get("spool_oldest_age_seconds", 0.0), 1),
        level=SPOOL_LEVEL_NAMES.get(int(gauges.get("spool_level", 0)), "ok"),
    )


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

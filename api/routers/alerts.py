"""Alerts: what the rules raised, their history, and acknowledging them.

Acknowledging says a person has seen an alert; it stays open until its condition
clears. Road alerts (gritting, silent road sensors) are for highways to acknowledge;
device, air and water alerts for engineers too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from alerts.model import AlertEvent
from api.auth import AnyKey, Responder
from api.deps import RegistryDep, ServicesDep
from api.ids import RowId
from api.refusals import KEY_NEEDED, not_found, registry_refusals
from api.roles import HIGHWAYS
from api.schemas.alerts import Alert, AlertList, AlertStatusName
from storage.registry import AlertRecord, Registry

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=KEY_NEEDED)

NO_ALERT = not_found("alert")


@router.get("", summary="List alerts", response_model=AlertList)
def list_alerts(
    _: AnyKey,
    registry: RegistryDep,
    open_only: Annotated[
        bool, Query(alias="open", description="Only alerts not yet cleared.")
    ] = False,
    status_: Annotated[
        AlertStatusName | None, Query(alias="status", description="One lifecycle state.")
    ] = None,
    route: Annotated[str | None, Query(description="One route.")] = None,
    device: Annotated[str | None, Query(description="One device.")] = None,
    domain: Annotated[str | None, Query(description="road, air, water or other.")] = None,
    rule: Annotated[
        str | None, Query(description="One rule family.", examples=["gritting"])
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertList:
    """Alerts, newest first."""
    found = registry.alerts(
        status=status_,
        open_only=open_only,
        route_id=route,
        device_id=device,
        domain=domain,
        rule=rule,
        limit=limit,
    )
    return AlertList(count=len(found), alerts=[Alert.of(a) for a in found])


@router.get(
    "/{alert_id}", summary="One alert and its history", response_model=Alert, responses=NO_ALERT
)
def get_alert(_: AnyKey, alert_id: RowId, registry: RegistryDep) -> Alert:
    """An alert with every step of its life (raised, escalated, acknowledged, cleared)."""
    record = _alert(registry, alert_id)
    return Alert.of(record, registry.alert_events(alert_id))


@router.post(
    "/{alert_id}/acknowledge",
    summary="Acknowledge an alert",
    response_model=Alert,
    responses={
        **NO_ALERT,
        409: {"description": "The alert is cleared already"},
    },
)
def acknowledge_alert(
    caller: Responder, alert_id: RowId, registry: RegistryDep, services: ServicesDep
) -> Alert:
    """Say a person has seen the alert (audited). Acknowledging twice keeps the first."""
    record = _alert(registry, alert_id)
    if record.domain == "road" and caller.role not in HIGHWAYS:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="road alerts are acknowledged by highways: use a highways or admin key",
        )
    if record.status == "cleared":
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"alert {alert_id} is cleared already")
    with registry_refusals():
        acknowledged = registry.acknowledge_alert(alert_id, actor=caller.actor)
    if services.announce is not None and record.status != "acknowledged":
        services.announce(AlertEvent("acknowledged", acknowledged, acknowledged.updated_at))
    return Alert.of(acknowledged, registry.alert_events(alert_id))


def _alert(registry: Registry, alert_id: int) -> AlertRecord:
    record = registry.alert(alert_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no alert {alert_id}")
    return record

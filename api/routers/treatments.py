"""The treatment log: gritting runs as highways record them, the evidence for the season report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.auth import AnyKey, Highways
from api.deps import RegistryDep
from api.ids import RowId
from api.refusals import KEY_NEEDED, not_found, registry_refusals
from api.schemas.alerts import NewTreatmentBody, Treatment, TreatmentList
from storage.registry import NewTreatment

router = APIRouter(prefix="/treatments", tags=["gritting"], responses=KEY_NEEDED)


@router.get("", summary="List treatments", response_model=TreatmentList)
def list_treatments(
    _: AnyKey,
    registry: RegistryDep,
    route: Annotated[str | None, Query(description="One route.")] = None,
    since: Annotated[datetime | None, Query(description="Started at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Started before.")] = None,
) -> TreatmentList:
    """Gritting runs, oldest first."""
    with registry_refusals():
        found = registry.treatments(route_id=route, since=since, until=until)
    return TreatmentList(count=len(found), treatments=[Treatment.of(t) for t in found])


@router.post(
    "",
    summary="Log a treatment",
    response_model=Treatment,
    status_code=status.HTTP_201_CREATED,
)
def log_treatment(caller: Highways, body: NewTreatmentBody, registry: RegistryDep) -> Treatment:
    """Record a gritting run (route, start, end, spread rate, notes); audited."""
    with registry_refusals():
        record = registry.log_treatment(NewTreatment(**body.model_dump()), actor=caller.actor)
    return Treatment.of(record)


@router.delete(
    "/{treatment_id}",
    summary="Delete a treatment logged in error",
    response_model=Treatment,
    responses=not_found("treatment"),
)
def delete_treatment(caller: Highways, treatment_id: RowId, registry: RegistryDep) -> Treatment:
    """Remove a run logged by mistake; the audit log keeps what it was."""
    with registry_refusals():
        record = registry.delete_treatment(treatment_id, actor=caller.actor)
    return Treatment.of(record)

"""The audit log: every change to the registry, who made it, when, and before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import Caller, require
from api.deps import RegistryDep
from api.refusals import KEY_NEEDED, invalid
from api.roles import ADMINS
from api.schemas.registry import AuditEntry, AuditLog
from storage.registry import FieldProblem

router = APIRouter(prefix="/audit", tags=["audit"], responses=KEY_NEEDED)

Admin = Annotated[Caller, Depends(require(ADMINS))]


@router.get("", summary="Changes to the registry", response_model=AuditLog)
def audit_log(
    _: Admin,
    registry: RegistryDep,
    entity: Annotated[
        str | None,
        Query(description="device, route or api_key.", examples=["device"]),
    ] = None,
    entity_id: Annotated[
        str | None, Query(description="One device, route or key.", examples=["rst-01"])
    ] = None,
    actor: Annotated[
        str | None,
        Query(
            description="Who made the change, as the log names them.",
            examples=["key:3f9a1c0b7d2e (Jo Bloggs, network engineer)"],
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        Query(
            description="Only changes at or after this time (ISO 8601 with a time zone).",
            examples=["2026-01-15T00:00:00Z"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> AuditLog:
    """Newest first. Each entry holds the entity as it was before and after the change
    (`before` is null for a creation, `after` for a deletion); API keys appear without
    their secrets."""
    if since is not None and since.tzinfo is None:
        raise invalid(
            [FieldProblem("since", "since needs a time zone, e.g. 2026-01-15T00:00:00Z")],
            where="query",
        )
    entries = registry.audit_entries(
        entity=entity, entity_id=entity_id, actor=actor, since=since, limit=limit
    )
    return AuditLog(
        count=len(entries),
        entries=[AuditEntry.model_validate(e, from_attributes=True) for e in entries],
    )

"""ORM models into frozen records, and records into the audit log's JSON snapshots.

Every read goes through here, so no ORM object leaves the registry.
"""

from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from storage.registry.models import (
    ApiKeyModel,
    AuditModel,
    DeadLetterModel,
    DeviceModel,
    RouteModel,
    SightingModel,
)
from storage.registry.records import (
    ApiKeyRecord,
    AuditRecord,
    DeadLetterRecord,
    DeviceRecord,
    DeviceStatus,
    Domain,
    RouteRecord,
    SightingRecord,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER_AUDITED = frozenset({"secret_hash", "secret"})


def device_record(model: DeviceModel) -> DeviceRecord:
    return DeviceRecord(
        device_id=model.device_id,
        dev_eui=model.dev_eui,
        name=model.name,
        decoder=model.decoder,
        domain=cast(Domain, model.domain),
        route_id=model.route_id,
        latitude=model.latitude,
        longitude=model.longitude,
        public=model.public,
        owner=model.owner,
        field_map=dict(model.field_map),
        site=model.site,
        application_id=model.application_id,
        status=cast(DeviceStatus, model.status),
        notes=model.notes,
        join_eui=model.join_eui,
    )


def route_record(model: RouteModel) -> RouteRecord:
    return RouteRecord(
        route_id=model.route_id,
        name=model.name,
        length_km=model.length_km,
        priority=model.priority,
        area=model.area,
        policy=dict(model.policy or {}),
        spread_rate_g_m2=model.spread_rate_g_m2,
        width_m=model.width_m,
    )


def sighting_record(model: SightingModel) -> SightingRecord:
    return SightingRecord(
        network=model.network,
        device_id=model.device_id,
        application_id=model.application_id,
        dev_eui=model.dev_eui,
        f_port=model.f_port,
        payload=bytes(model.payload),
        count=model.uplink_count,
        first_seen=from_ns(model.first_seen_ns),
        last_seen=from_ns(model.last_seen_ns),
    )


def dead_letter_record(model: DeadLetterModel) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=model.id,
        arrived_at=from_ns(model.arrived_ns),
        topic=model.topic,
        reason=model.reason,
        detail=model.detail,
        body=bytes(model.body),
        body_size=model.body_size,
        body_sha256=model.body_sha256,
        truncated=model.truncated,
    )


def api_key_record(model: ApiKeyModel) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=model.key_id,
        label=model.label,
        role=model.role,
        secret_hash=model.secret_hash,
        created_at=model.created_at,
        expires_at=model.expires_at,
        revoked_at=model.revoked_at,
        last_used_at=model.last_used_at,
        created_by=model.created_by,
    )


def audit_record(model: AuditModel) -> AuditRecord:
    return AuditRecord(
        id=model.id,
        at=model.at,
        actor=model.actor,
        entity=model.entity,
        entity_id=model.entity_id,
        action=model.action,
        origin=model.origin,
        before=model.before,
        after=model.after,
    )


def audit_entry(
    *,
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    origin: str,
    before: object | None,
    after: object | None,
) -> AuditModel:
    """An audit row; `before` and `after` are records (None for a creation or a deletion)."""
    return AuditModel(
        at=at,
        actor=actor,
        entity=entity,
        entity_id=entity_id,
        action=action,
        origin=origin,
        before=None if before is None else snapshot(before),
        after=None if after is None else snapshot(after),
    )


def snapshot(record: object) -> dict[str, Any]:
    """A record as JSON for the audit log: times as ISO 8601, secrets (their hashes) left out."""
    values = asdict(cast(Any, record))
    names = [each.name for each in fields(cast(Any, record))]
    return {name: _json_ready(values[name]) for name in names if name not in _NEVER_AUDITED}


def from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _json_ready(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value

"""Single-object changes inside one transaction: devices, routes and API keys, each audited.

`Registry` opens the session and hands it here; these functions check what only
the database knows (ids and DevEUIs taken, routes that exist, routes in use),
write, and add the audit entry in the same transaction, so a change and its
record of who made it commit together or not at all.
"""

from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.registry.conversions import (
    api_key_record,
    audit_entry,
    device_record,
    route_record,
)
from storage.registry.drafts import (
    DEVICE_FIELDS,
    ROUTE_FIELDS,
    Catalogue,
    DeviceDraft,
    RouteDraft,
    checked_device,
    checked_route,
    unknown_fields,
)
from storage.registry.errors import AlreadyRegistered, ChangeRejected, InUse, NotRegistered
from storage.registry.models import ApiKeyModel, AuditModel, DeviceModel, RouteModel
from storage.registry.records import (
    ApiKeyRecord,
    DeviceRecord,
    FieldProblem,
    NewApiKey,
    RouteRecord,
)
from storage.registry.validation import dev_eui_taken

EDIT = "edit"


# -- devices -------------------------------------------------------------------------------


def create_device(
    session: Session,
    draft: DeviceDraft,
    catalogue: Catalogue,
    *,
    at: datetime,
    actor: str,
    origin: str,
) -> DeviceRecord:
    """Register a device: ChangeRejected listing every broken rule (a missing route too),
    then AlreadyRegistered when its device_id or DevEUI is taken."""
    clean = _checked_device(session, draft, catalogue, [])
    if session.get(DeviceModel, clean.device_id) is not None:
        raise AlreadyRegistered(
            f"device_id '{clean.device_id}' is already registered: edit that device, "
            f"or choose another id",
            owner=clean.device_id,
        )
    _check_dev_eui_free(session, clean)
    model = DeviceModel(device_id=clean.device_id, created_at=at, updated_at=at)
    _fill(model, clean)
    session.add(model)
    after = device_record(model)
    session.add(_audit(at, actor, "device", clean.device_id, "create", origin, None, after))
    return after


def update_device(
    session: Session,
    device_id: str,
    changes: Mapping[str, object],
    catalogue: Catalogue,
    *,
    at: datetime,
    actor: str,
) -> DeviceRecord:
    """Apply `changes` (field → new value) to a device; the result must pass every rule."""
    model = _locked(session, DeviceModel, device_id, "device")
    before = device_record(model)
    problems = unknown_fields(changes, DEVICE_FIELDS)
    if changes.get("device_id", device_id) != device_id:
        problems.append(
            FieldProblem(
                "device_id",
                "device_id cannot be changed (it is the network's name for the device): "
                "register the device under the new id and retire this one",
            )
        )
    draft = draft_of_device(before)
    changed = replace(draft, **_known(changes, DEVICE_FIELDS))
    clean = _checked_device(session, changed, catalogue, problems)
    if clean == draft:
        return before
    if clean.dev_eui != before.dev_eui:
        _check_dev_eui_free(session, clean)
    _fill(model, clean)
    model.updated_at = at
    after = device_record(model)
    action = "retire" if (before.status, after.status) == ("active", "retired") else "update"
    session.add(_audit(at, actor, "device", device_id, action, EDIT, before, after))
    return after


def retire_device(session: Session, device_id: str, *, at: datetime, actor: str) -> DeviceRecord:
    model = _locked(session, DeviceModel, device_id, "device")
    before = device_record(model)
    if before.status == "retired":
        return before
    model.status = "retired"
    model.updated_at = at
    after = device_record(model)
    session.add(_audit(at, actor, "device", device_id, "retire", EDIT, before, after))
    return after


def draft_of_device(record: DeviceRecord) -> DeviceDraft:
    values = asdict(record)
    return DeviceDraft(**{name: values[name] for name in DEVICE_FIELDS})


def _checked_device(
    session: Session, draft: DeviceDraft, catalogue: Catalogue, problems: list[FieldProblem]
) -> DeviceDraft:
    """The clean draft, or ChangeRejected with `problems`, every broken rule and a missing route."""
    try:
        clean = checked_device(draft, catalogue)
    except ChangeRejected as rejected:
        problems = problems + rejected.problems
        clean = None
    route_id = draft.route_id.strip() if isinstance(draft.route_id, str) else None
    route_checked = not any(problem.field == "route_id" for problem in problems)
    if route_id and route_checked and session.get(RouteModel, route_id) is None:
        problems = [
            *problems,
            FieldProblem(
                "route_id",
                f"route_id '{route_id}' is not a registered route: register the route first, "
                f"or leave route_id empty",
            ),
        ]
    if problems or clean is None:
        raise ChangeRejected(problems)
    return clean


def _check_dev_eui_free(session: Session, draft: DeviceDraft) -> None:
    owner = session.scalars(
        select(DeviceModel.device_id).where(DeviceModel.dev_eui == draft.dev_eui)
    ).first()
    if owner is not None and owner != draft.device_id:
        raise AlreadyRegistered(dev_eui_taken(draft.dev_eui, owner), owner=owner)


def _fill(model: DeviceModel, draft: DeviceDraft) -> None:
    model.dev_eui = draft.dev_eui
    model.join_eui = draft.join_eui
    model.name = draft.name
    model.decoder = draft.decoder
    model.domain = draft.domain
    model.route_id = draft.route_id
    model.latitude = draft.latitude
    model.longitude = draft.longitude
    model.public = draft.public
    model.owner = draft.owner
    model.field_map = dict(draft.field_map)
    model.site = draft.site
    model.application_id = draft.application_id
    model.notes = draft.notes
    model.status = draft.status


# -- routes --------------------------------------------------------------------------------


def create_route(session: Session, draft: RouteDraft, *, at: datetime, actor: str) -> RouteRecord:
    if session.get(RouteModel, draft.route_id) is not None:
        raise AlreadyRegistered(
            f"route_id '{draft.route_id}' is already registered: edit that route, "
            f"or choose another id",
            owner=draft.route_id,
        )
    model = RouteModel(route_id=draft.route_id, created_at=at, updated_at=at)
    _fill_route(model, draft)
    session.add(model)
    after = route_record(model)
    session.add(_audit(at, actor, "route", draft.route_id, "create", EDIT, None, after))
    return after


def update_route(
    session: Session, route_id: str, changes: Mapping[str, object], *, at: datetime, actor: str
) -> RouteRecord:
    model = _locked(session, RouteModel, route_id, "route")
    before = route_record(model)
    problems = unknown_fields(changes, ROUTE_FIELDS)
    if changes.get("route_id", route_id) != route_id:
        problems.append(
            FieldProblem(
                "route_id",
                "route_id cannot be changed (devices and alerts refer to it): create a new "
                "route, move the devices, then delete this one",
            )
        )
    draft = draft_of_route(before)
    try:
        clean = checked_route(replace(draft, **_known(changes, ROUTE_FIELDS)))
    except ChangeRejected as rejected:
        raise ChangeRejected(problems + rejected.problems) from None
    if problems:
        raise ChangeRejected(problems)
    if clean == draft:
        return before
    _fill_route(model, clean)
    model.updated_at = at
    after = route_record(model)
    session.add(_audit(at, actor, "route", route_id, "update", EDIT, before, after))
    return after


def delete_route(session: Session, route_id: str, *, at: datetime, actor: str) -> RouteRecord:
    """Delete a route no device refers to (retired devices count: their history names it)."""
    model = _locked(session, RouteModel, route_id, "route")
    users = list(
        session.scalars(
            select(DeviceModel.device_id)
            .where(DeviceModel.route_id == route_id)
            .order_by(DeviceModel.device_id)
        )
    )
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        raise InUse(
            f"route '{route_id}' still has {len(users)} device{'s' if len(users) > 1 else ''} "
            f"({shown}): move them to another route or clear their route_id first"
        )
    before = route_record(model)
    session.delete(model)
    session.add(_audit(at, actor, "route", route_id, "delete", EDIT, before, None))
    return before


def draft_of_route(record: RouteRecord) -> RouteDraft:
    values = asdict(record)
    return RouteDraft(**{name: values[name] for name in ROUTE_FIELDS})


def _fill_route(model: RouteModel, draft: RouteDraft) -> None:
    model.name = draft.name
    model.length_km = draft.length_km
    model.priority = draft.priority
    model.area = draft.area
    model.policy = dict(draft.policy)
    model.spread_rate_g_m2 = draft.spread_rate_g_m2
    model.width_m = draft.width_m


# -- API keys ------------------------------------------------------------------------------


def create_api_key(session: Session, key: NewApiKey, *, at: datetime, actor: str) -> ApiKeyRecord:
    if session.get(ApiKeyModel, key.key_id) is not None:
        raise AlreadyRegistered(
            f"API key id '{key.key_id}' is taken: issue a new key", owner=key.key_id
        )
    model = ApiKeyModel(
        key_id=key.key_id,
        label=key.label.strip(),
        role=key.role,
        secret_hash=key.secret_hash,
        created_at=at,
        created_by=actor,
        expires_at=None if key.expires_at is None else key.expires_at.astimezone(UTC),
        revoked_at=None,
        last_used_at=None,
    )
    session.add(model)
    after = api_key_record(model)
    session.add(_audit(at, actor, "api_key", key.key_id, "create", EDIT, None, after))
    return after


def revoke_api_key(
    session: Session, key_id: str, *, at: datetime, actor: str, audited_at: datetime
) -> ApiKeyRecord | None:
    """Revoke from `at` on; the audit entry is dated when the change is made (`audited_at`)."""
    model = session.get(ApiKeyModel, key_id, with_for_update=True)
    if model is None:
        return None
    before = api_key_record(model)
    if model.revoked_at is not None:
        return before  # revoking twice changes nothing; the first time stands
    model.revoked_at = at
    after = api_key_record(model)
    session.add(_audit(audited_at, actor, "api_key", key_id, "revoke", EDIT, before, after))
    return after


def touch_api_key(session: Session, key_id: str, at: datetime) -> None:
    """Note a use; a later use already noted (another replica) is kept."""
    session.execute(
        update(ApiKeyModel)
        .where(ApiKeyModel.key_id == key_id)
        .where((ApiKeyModel.last_used_at.is_(None)) | (ApiKeyModel.last_used_at < at))
        .values(last_used_at=at)
    )


# -- shared --------------------------------------------------------------------------------


def _locked(session: Session, model: type[Any], entity_id: str, kind: str) -> Any:
    """The row, locked against concurrent edits (PostgreSQL; SQLite holds the write lock)."""
    found = session.get(model, entity_id, with_for_update=True)
    if found is None:
        raise NotRegistered(f"no {kind} '{entity_id}' is registered")
    return found


def _known(changes: Mapping[str, object], names: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in changes.items() if name in names}


def _audit(
    at: datetime,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    origin: str,
    before: object | None,
    after: object | None,
) -> AuditModel:
    return audit_entry(
        at=at,
        actor=actor,
        entity=entity,
        entity_id=entity_id,
        action=action,
        origin=origin,
        before=before,
        after=after,
    )

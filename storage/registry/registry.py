"""The registry: devices, routes and API keys, and what the bridge reports about the rest.

One `Registry` per process, shared by threads; every call is its own transaction.
Frozen records (`records.py`) go in and out, never ORM objects, so callers cannot
lazy-load or mutate the database behind the registry's back. Every change is
audited in its own transaction: imports here, single edits in `edits.py`.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, cast

from alembic.util import CommandError
from sqlalchemy import Select, Table, func, or_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.registry import alerting, edits, leases, schema
from storage.registry.api_keys import key_problems
from storage.registry.conversions import (
    api_key_record,
    audit_entry,
    audit_record,
    dead_letter_record,
    device_record,
    route_record,
    sighting_record,
)
from storage.registry.drafts import (
    Catalogue,
    DeviceDraft,
    RouteDraft,
    checked_route,
)
from storage.registry.edits import EDIT
from storage.registry.engine import WRITE_OPTION, registry_engine
from storage.registry.errors import (
    AlreadyRegistered,
    ChangeRejected,
    ImportRejected,
    RegistryError,
    RegistryUnavailable,
    SchemaNotCurrent,
)
from storage.registry.import_checks import (
    actor_problems,
    device_row_problems,
    route_row_problems,
)
from storage.registry.models import (
    AlertModel,
    ApiKeyModel,
    AuditModel,
    DeadLetterModel,
    DeviceModel,
    RouteModel,
    RouteStatusModel,
    SightingModel,
    SubscriptionModel,
)
from storage.registry.records import (
    AlertEventRecord,
    AlertRecord,
    AlertStatus,
    ApiKeyRecord,
    AuditRecord,
    DeadLetter,
    DeadLetterRecord,
    DeviceRecord,
    DeviceRow,
    FieldProblem,
    LeaseRecord,
    NewAlert,
    NewApiKey,
    NewSubscription,
    NewTreatment,
    RouteRecord,
    RouteRow,
    RouteStatusRecord,
    RouteTransitionRecord,
    RowError,
    Sighting,
    SightingRecord,
    SubscriptionRecord,
    TreatmentRecord,
)
from storage.registry.reports import (
    MAX_DEAD_LETTER_BODY,
    dead_letter_row,
    fold_sightings,
    sighting_upsert,
)
from storage.registry.validation import InvalidValue, dev_eui_taken, parse_dev_eui

__all__ = ["MAX_DEAD_LETTER_BODY", "Registry"]

_IN_CHUNK = 500  # ids per IN (…) list, well under SQLite's bound-parameter limit
_MIGRATION_LOCK = 0x77686572  # "wher": PostgreSQL advisory lock taken while migrating
_IMPORT_ORIGIN = "csv-import"
_DEAD_LETTERS = cast(Table, DeadLetterModel.__table__)


class Registry:
    """Devices, routes, unregistered sightings, dead letters and the audit log in one database.

    `url` is an SQLAlchemy URL: `sqlite:///data/registry.db` (the folder is
    created) or `postgresql+psycopg://user@host:5432/db`. Call `migrate()` once
    before use; every other call raises `SchemaNotCurrent` until the schema is current.
    """

    def __init__(self, url: str) -> None:
        self._engine = registry_engine(url)
        self._where = self._engine.url.render_as_string(hide_password=True)
        self._schema_ok = False
        self._device_listeners: list[Callable[[], None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic upgrade head); harmless when current.

        Concurrent callers are serialised (an advisory lock on PostgreSQL, BEGIN
        IMMEDIATE on SQLite), so several processes may all call this at start.
        """
        with self._database_errors("migrating"), self._engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # Later revisions may rebuild tables on SQLite; foreign keys are checked after.
                _sqlite_pragma(connection, "PRAGMA foreign_keys = OFF")
            try:
                connection.execution_options(**{WRITE_OPTION: True})
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                        )
                    self._check_not_newer(schema.current_revision(connection))
                    schema.upgrade_to_head(connection)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RegistryError(
                                f"migration left {len(broken)} rows with broken references "
                                f"(first: {tuple(broken[0])}); nothing was changed"
                            )
            except CommandError as problem:
                raise SchemaNotCurrent(
                    f"cannot migrate the registry database {self._where}: {problem}"
                ) from problem
            finally:
                if sqlite:
                    _sqlite_pragma(connection, "PRAGMA foreign_keys = ON")
        self._schema_ok = False

    def current_revision(self) -> str | None:
        """The schema revision of the database, or None when it was never migrated."""
        with self._database_errors("reading the schema revision"), self._engine.connect() as c:
            return schema.current_revision(c)

    @staticmethod
    def head_revision() -> str:
        """The schema revision this code expects (what `migrate()` upgrades to)."""
        return schema.head_revision()

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def on_devices_changed(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each committed change to devices made through this object.

        The bridge's device directory listens, so an uplink that arrives right after a
        device is registered through the API or a page (same process) is decoded, not
        kept as a sighting. Other processes find the change within their refresh time.
        """
        self._device_listeners.append(listener)

    def _devices_changed(self) -> None:
        for listener in self._device_listeners:
            listener()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- devices and routes ----------------------------------------------------------------

    def devices(
        self,
        *,
        domain: str | None = None,
        route_id: str | None = None,
        owner: str | None = None,
        status: str | None = None,
        public: bool | None = None,
    ) -> list[DeviceRecord]:
        """Devices ordered by device_id: every one (retired too), or those matching every filter.

        `owner` matches exactly; the others are the stored values.
        """
        query = select(DeviceModel).order_by(DeviceModel.device_id)
        for column, wanted in (
            (DeviceModel.domain, domain),
            (DeviceModel.route_id, route_id),
            (DeviceModel.owner, owner),
            (DeviceModel.status, status),
        ):
            if wanted is not None:
                query = query.where(column == wanted)
        if public is not None:
            query = query.where(DeviceModel.public.is_(public))
        with self._session(write=False) as session:
            return [device_record(model) for model in session.scalars(query)]

    def device(self, device_id: str) -> DeviceRecord | None:
        with self._session(write=False) as session:
            model = session.get(DeviceModel, device_id)
            return device_record(model) if model is not None else None

    def device_by_eui(self, dev_eui: str) -> DeviceRecord | None:
        """The device with this DevEUI (any case, separators allowed), or None."""
        try:
            normalised = parse_dev_eui(dev_eui.strip())
        except InvalidValue:
            return None
        with self._session(write=False) as session:
            model = session.scalars(
                select(DeviceModel).where(DeviceModel.dev_eui == normalised)
            ).first()
            return device_record(model) if model is not None else None

    def routes(self) -> list[RouteRecord]:
        """Every route, ordered by route_id."""
        with self._session(write=False) as session:
            models = session.scalars(select(RouteModel).order_by(RouteModel.route_id))
            return [route_record(model) for model in models]

    def route(self, route_id: str) -> RouteRecord | None:
        with self._session(write=False) as session:
            model = session.get(RouteModel, route_id)
            return route_record(model) if model is not None else None

    def create_device(
        self, device: DeviceDraft, *, actor: str, catalogue: Catalogue, origin: str = EDIT
    ) -> DeviceRecord:
        """Register one device, audited under `actor`.

        Raises `ChangeRejected` listing every broken rule (the CSV import's rules and
        messages), `AlreadyRegistered` when the device_id or DevEUI is taken.
        `origin` names the path in the audit log ("edit", "sighting").
        """
        _require_actor(actor)
        with self._edit("registering a device") as (session, now):
            created = edits.create_device(
                session, device, catalogue, at=now, actor=actor, origin=origin
            )
        self._devices_changed()
        return created

    def update_device(
        self,
        device_id: str,
        changes: Mapping[str, object],
        *,
        actor: str,
        catalogue: Catalogue,
    ) -> DeviceRecord:
        """Change some fields of a device (names of `DeviceDraft` → new values); the others stay.

        The device as changed must pass every rule. Raises `NotRegistered`,
        `ChangeRejected` or `AlreadyRegistered`. A change that changes nothing is not audited.
        """
        _require_actor(actor)
        with self._edit("changing a device") as (session, now):
            updated = edits.update_device(
                session, device_id, changes, catalogue, at=now, actor=actor
            )
        self._devices_changed()
        return updated

    def retire_device(self, device_id: str, *, actor: str) -> DeviceRecord:
        """Mark a device retired: the bridge stops reading its uplinks; it stays readable,
        keeps its DevEUI and its history. Retiring a retired device changes nothing."""
        _require_actor(actor)
        with self._edit("retiring a device") as (session, now):
            retired = edits.retire_device(session, device_id, at=now, actor=actor)
        self._devices_changed()
        return retired

    def create_route(self, route: RouteDraft, *, actor: str) -> RouteRecord:
        """Register one route, audited. `ChangeRejected` or `AlreadyRegistered` when refused."""
        _require_actor(actor)
        clean = checked_route(route)
        with self._edit("registering a route") as (session, now):
            return edits.create_route(session, clean, at=now, actor=actor)

    def update_route(
        self, route_id: str, changes: Mapping[str, object], *, actor: str
    ) -> RouteRecord:
        """Change some fields of a route (names of `RouteDraft`); audited when anything changed."""
        _require_actor(actor)
        with self._edit("changing a route") as (session, now):
            return edits.update_route(session, route_id, changes, at=now, actor=actor)

    def delete_route(self, route_id: str, *, actor: str) -> RouteRecord:
        """Delete a route that no device (retired ones included) is on; returns what it was.

        Routes are deleted rather than retired: a route has no uplinks of its own,
        and the audit log keeps its last state. Raises `NotRegistered`, or `InUse`
        naming the devices still on it.
        """
        _require_actor(actor)
        with self._edit("deleting a route") as (session, now):
            return edits.delete_route(session, route_id, at=now, actor=actor)

    def apply_device_import(self, rows: Sequence[DeviceRow], *, actor: str) -> int:
        """Create or update every row's device in one transaction, or none of them.

        Columns the CSV does not carry (site, application_id, status, notes) keep
        their values on update. Raises `ImportRejected` listing every problem: a
        row that breaks a rule, a device_id or DevEUI twice in `rows`, a DevEUI
        registered to a different device, a route that does not exist. Each change
        is written to the audit log under `actor`. Returns how many rows were applied.
        """
        problems = actor_problems(actor) + device_row_problems(rows)
        if problems:
            raise ImportRejected(problems)
        if not rows:
            return 0
        now = datetime.now(UTC)
        with self._session(write=True) as session:
            existing = _by_id(session, DeviceModel.device_id, [row.device_id for row in rows])
            owners = {
                model.dev_eui: model.device_id
                for model in _models_in(session, DeviceModel.dev_eui, [r.dev_eui for r in rows])
            }
            route_ids = sorted({row.route_id for row in rows if row.route_id})
            routes = _by_id(session, RouteModel.route_id, route_ids)
            for row in rows:
                owner = owners.get(row.dev_eui)
                if owner is not None and owner != row.device_id:
                    problems.append(
                        RowError(row.line, row.device_id, dev_eui_taken(row.dev_eui, owner))
                    )
                if row.route_id and row.route_id not in routes:
                    problems.append(
                        RowError(
                            row.line,
                            row.device_id,
                            f"route_id '{row.route_id}' is not a registered route: "
                            f"import it with `wherry routes import` first",
                        )
                    )
            if problems:
                raise ImportRejected(problems)
            for row in rows:
                model = existing.get(row.device_id)
                before = device_record(model) if model is not None else None
                if model is None:
                    model = DeviceModel(
                        device_id=row.device_id,
                        status="active",
                        site=None,
                        application_id=None,
                        notes=None,
                        created_at=now,
                    )
                    session.add(model)
                _fill_device(model, row)
                after = device_record(model)
                if after != before:
                    model.updated_at = now
                    session.add(
                        audit_entry(
                            at=now,
                            actor=actor,
                            entity="device",
                            entity_id=row.device_id,
                            action="create" if before is None else "update",
                            origin=_IMPORT_ORIGIN,
                            before=before,
                            after=after,
                        )
                    )
            self._flush_import(session)
        self._devices_changed()
        return len(rows)

    def apply_route_import(self, rows: Sequence[RouteRow], *, actor: str) -> int:
        """Create or update every row's route in one transaction, or none of them.

        Raises `ImportRejected` listing every problem; audits each change under `actor`.
        """
        problems = actor_problems(actor) + route_row_problems(rows)
        if problems:
            raise ImportRejected(problems)
        if not rows:
            return 0
        now = datetime.now(UTC)
        with self._session(write=True) as session:
            existing = _by_id(session, RouteModel.route_id, [row.route_id for row in rows])
            for row in rows:
                model = existing.get(row.route_id)
                before = route_record(model) if model is not None else None
                if model is None:
                    model = RouteModel(route_id=row.route_id, created_at=now)
                    session.add(model)
                model.name = row.name
                model.length_km = float(row.length_km)
                model.priority = int(row.priority)
                model.area = row.area
                after = route_record(model)
                if after != before:
                    model.updated_at = now
                    session.add(
                        audit_entry(
                            at=now,
                            actor=actor,
                            entity="route",
                            entity_id=row.route_id,
                            action="create" if before is None else "update",
                            origin=_IMPORT_ORIGIN,
                            before=before,
                            after=after,
                        )
                    )
            self._flush_import(session)
        return len(rows)

    def audit_entries(
        self,
        *,
        entity: str | None = None,
        entity_id: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """The audit log, newest first: optionally one kind of entity, one entity, one actor,
        and only changes at or after `since` (an aware datetime)."""
        _check_limit(limit)
        query = select(AuditModel).order_by(AuditModel.at.desc(), AuditModel.id.desc())
        if entity is not None:
            query = query.where(AuditModel.entity == entity)
        if entity_id is not None:
            query = query.where(AuditModel.entity_id == entity_id)
        if actor is not None:
            query = query.where(AuditModel.actor == actor)
        if since is not None:
            if since.tzinfo is None:
                raise ValueError("since must be timezone-aware")
            query = query.where(AuditModel.at >= since)
        with self._session(write=False) as session:
            return [audit_record(model) for model in session.scalars(query.limit(limit))]

    # -- API keys --------------------------------------------------------------------------

    def create_api_key(self, key: NewApiKey, *, actor: str) -> ApiKeyRecord:
        """Store a new key (its secret's hash only), audited under `actor` without the hash.

        Raises `ChangeRejected` for a malformed key, `AlreadyRegistered` for a taken key_id.
        """
        _require_actor(actor)
        problems = key_problems(key)
        if problems:
            raise ChangeRejected(problems)
        with self._edit("storing an API key") as (session, now):
            return edits.create_api_key(session, key, at=now, actor=actor)

    def api_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._session(write=False) as session:
            model = session.get(ApiKeyModel, key_id)
            return api_key_record(model) if model is not None else None

    def api_keys(self) -> list[ApiKeyRecord]:
        """Every key, revoked and expired ones too, newest first."""
        query = select(ApiKeyModel).order_by(ApiKeyModel.created_at.desc(), ApiKeyModel.key_id)
        with self._session(write=False) as session:
            return [api_key_record(model) for model in session.scalars(query)]

    def revoke_api_key(self, key_id: str, *, actor: str, at: datetime) -> ApiKeyRecord | None:
        """Stop a key from working from `at` on, audited; None for an unknown key.

        Revoking a revoked key changes nothing and returns it as it is.
        """
        _require_actor(actor)
        _require_aware(at, "at")
        with self._edit("revoking an API key") as (session, now):
            return edits.revoke_api_key(
                session, key_id, at=at.astimezone(UTC), actor=actor, audited_at=now
            )

    def touch_api_key(self, key_id: str, at: datetime) -> None:
        """Note that the key was used at `at` (not audited: it is not a change)."""
        _require_aware(at, "at")
        with self._session(write=True) as session:
            edits.touch_api_key(session, key_id, at.astimezone(UTC))

    # -- what the bridge reports -----------------------------------------------------------

    def record_sightings(self, sightings: Sequence[Sighting]) -> None:
        """Count uplinks from unregistered devices, one row per (network, device_id).

        A batch is folded per device first, then written with one INSERT … ON
        CONFLICT DO UPDATE, keys in sorted order so concurrent writers cannot deadlock.
        The latest uplink by the network's clock supplies f_port and payload.
        """
        if not sightings:
            return
        folded = fold_sightings(sightings)
        with self._session(write=True) as session:
            connection = session.connection()
            statement = sighting_upsert(connection.dialect.name)
            connection.execute(statement, [folded[key] for key in sorted(folded)])

    def sightings(self) -> list[SightingRecord]:
        """Devices heard but not registered (by device_id or DevEUI), most recently heard first."""
        with self._session(write=False) as session:
            return [sighting_record(model) for model in session.scalars(_unregistered())]

    def sighting(self, device_id: str) -> SightingRecord | None:
        """The latest-heard unregistered sighting of `device_id` (on any network), or None."""
        query = _unregistered().where(SightingModel.device_id == device_id).limit(1)
        with self._session(write=False) as session:
            model = session.scalars(query).first()
            return sighting_record(model) if model is not None else None

    def record_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep messages the pipeline could not use: at most 64 KiB of each body, with the
        whole body's size and sha256, so a 10 MB message costs 64 KiB."""
        if not letters:
            return
        rows = [dead_letter_row(letter) for letter in letters]
        with self._session(write=True) as session:
            session.connection().execute(_DEAD_LETTERS.insert(), rows)

    def dead_letters(
        self, *, reason: str | None = None, limit: int = 100
    ) -> list[DeadLetterRecord]:
        """The newest `limit` dead letters (newest first), optionally of one reason."""
        _check_limit(limit)
        query = select(DeadLetterModel).order_by(
            DeadLetterModel.arrived_ns.desc(), DeadLetterModel.id.desc()
        )
        if reason is not None:
            query = query.where(DeadLetterModel.reason == reason)
        with self._session(write=False) as session:
            return [dead_letter_record(model) for model in session.scalars(query.limit(limit))]

    def dead_letter_counts(self) -> dict[str, int]:
        """How many dead letters are kept per reason."""
        query = select(DeadLetterModel.reason, func.count()).group_by(DeadLetterModel.reason)
        with self._session(write=False) as session:
            return {reason: int(count) for reason, count in session.execute(query)}

    # -- alerts, route decisions, treatments, subscriptions ----------------------------------

    def open_alerts(self) -> list[AlertRecord]:
        """Alerts raised or acknowledged and not yet cleared, oldest first."""
        with self._session(write=False) as session:
            return alerting.open_alerts(session)

    def raise_alert(
        self, alert: NewAlert, *, fence: LeaseRecord | None = None
    ) -> AlertRecord | None:
        """Open an alert; None if one with its key is open already (raised elsewhere first).

        With `fence`, the alert and its siblings below are written only while that lease
        is still held (`LeaseLost` otherwise): a process that lost it says nothing more.
        """
        _require_aware(alert.at, "at")
        with self._session(write=True, fence=fence) as session:
            return alerting.raise_alert(session, alert, now=datetime.now(UTC))

    def update_alert(
        self,
        alert_id: int,
        *,
        severity: str,
        summary: str,
        explanation: Mapping[str, object],
        at: datetime,
        fence: LeaseRecord | None = None,
    ) -> tuple[AlertRecord, bool]:
        """Refresh an open alert's words; the flag says whether its severity rose."""
        with self._session(write=True, fence=fence) as session:
            return alerting.update_alert(
                session,
                alert_id,
                severity=severity,
                summary=summary,
                explanation=explanation,
                at=at,
                now=datetime.now(UTC),
            )

    def clear_alert(
        self, alert_id: int, *, summary: str, at: datetime, fence: LeaseRecord | None = None
    ) -> AlertRecord:
        with self._session(write=True, fence=fence) as session:
            return alerting.clear_alert(
                session, alert_id, summary=summary, at=at, now=datetime.now(UTC)
            )

    def acknowledge_alert(self, alert_id: int, *, actor: str) -> AlertRecord:
        """Record that a person has seen an open alert (audited); raises `NotRegistered` for
        an unknown alert and `ChangeRejected` for a cleared one."""
        _require_actor(actor)
        with self._session(write=True) as session:
            return alerting.acknowledge_alert(session, alert_id, actor=actor, at=datetime.now(UTC))

    def alerts(
        self,
        *,
        status: AlertStatus | None = None,
        open_only: bool = False,
        route_id: str | None = None,
        device_id: str | None = None,
        domain: str | None = None,
        rule: str | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Alerts, newest first, filtered."""
        _check_limit(limit)
        query = alerting.alerts_query(
            status=status,
            open_only=open_only,
            route_id=route_id,
            device_id=device_id,
            domain=domain,
            rule=rule,
        )
        with self._session(write=False) as session:
            return [alerting.alert_record(m) for m in session.scalars(query.limit(limit))]

    def alert(self, alert_id: int) -> AlertRecord | None:
        with self._session(write=False) as session:
            model = session.get(AlertModel, alert_id)
            return alerting.alert_record(model) if model is not None else None

    def alert_events(self, alert_id: int) -> list[AlertEventRecord]:
        """The steps of one alert's life, in order."""
        with self._session(write=False) as session:
            return alerting.alert_events(session, alert_id)

    def save_route_status(self, status: RouteStatusRecord) -> bool:
        """Store a route's current decision; True when it changed state or recommendation."""
        _require_aware(status.at, "at")
        with self._session(write=True) as session:
            return alerting.save_route_status(session, status, now=datetime.now(UTC))

    def save_route_statuses(self, statuses: Sequence[RouteStatusRecord]) -> None:
        """Store several decisions in one transaction, in order (the alert engine's writer)."""
        for status in statuses:
            _require_aware(status.at, "at")
        now = datetime.now(UTC)
        with self._session(write=True) as session:
            for status in statuses:
                alerting.save_route_status(session, status, now=now)

    def route_statuses(self) -> list[RouteStatusRecord]:
        query = select(RouteStatusModel).order_by(RouteStatusModel.route_id)
        with self._session(write=False) as session:
            return [alerting.route_status_record(m) for m in session.scalars(query)]

    def route_transitions(
        self,
        *,
        route_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RouteTransitionRecord]:
        """Every change of route decisions in [since, until), oldest first."""
        query = alerting.transitions_query(route_id, since, until)
        with self._session(write=False) as session:
            return [alerting.transition_record(m) for m in session.scalars(query)]

    def log_treatment(self, treatment: NewTreatment, *, actor: str) -> TreatmentRecord:
        """Record a gritting run (audited); `ChangeRejected` lists what is wrong with it."""
        _require_actor(actor)
        with self._edit("logging a treatment") as (session, now):
            return alerting.log_treatment(session, treatment, actor=actor, at=now)

    def delete_treatment(self, treatment_id: int, *, actor: str) -> TreatmentRecord:
        _require_actor(actor)
        with self._edit("deleting a treatment") as (session, now):
            return alerting.delete_treatment(session, treatment_id, actor=actor, at=now)

    def treatments(
        self,
        *,
        route_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TreatmentRecord]:
        """Treatments that started in [since, until), oldest first."""
        query = alerting.treatments_query(route_id, since, until)
        with self._session(write=False) as session:
            return [alerting.treatment_record(m) for m in session.scalars(query)]

    def create_subscription(self, new: NewSubscription, *, actor: str) -> SubscriptionRecord:
        _require_actor(actor)
        with self._edit("adding a subscription") as (session, now):
            return alerting.create_subscription(session, new, actor=actor, at=now)

    def update_subscription(
        self, subscription_id: int, changes: Mapping[str, Any], *, actor: str
    ) -> SubscriptionRecord:
        _require_actor(actor)
        with self._edit("changing a subscription") as (session, now):
            return alerting.update_subscription(
                session, subscription_id, changes, actor=actor, at=now
            )

    def delete_subscription(self, subscription_id: int, *, actor: str) -> SubscriptionRecord:
        _require_actor(actor)
        with self._edit("deleting a subscription") as (session, now):
            return alerting.delete_subscription(session, subscription_id, actor=actor, at=now)

    def subscriptions(self) -> list[SubscriptionRecord]:
        query = select(SubscriptionModel).order_by(SubscriptionModel.id)
        with self._session(write=False) as session:
            return [alerting.subscription_record(m) for m in session.scalars(query)]

    def subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        with self._session(write=False) as session:
            model = session.get(SubscriptionModel, subscription_id)
            return alerting.subscription_record(model) if model is not None else None

    # -- leases ----------------------------------------------------------------------------

    def claim_lease(self, name: str, holder: str, ttl_s: float) -> LeaseRecord | None:
        """Take or renew the lease `name` for `holder` for `ttl_s` seconds of the database's
        clock; None while another process holds it (see `leases.py`)."""
        if not name or not holder or ttl_s <= 0:
            raise ValueError("a lease needs a name, a holder and a positive time to live")
        with self._session(write=True) as session:
            return leases.claim_lease(session, name, holder, round(ttl_s * 1000))

    def release_lease(self, name: str, holder: str) -> bool:
        """End `holder`'s lease now, so a standby can take it without waiting it out."""
        with self._session(write=True) as session:
            return leases.release_lease(session, name, holder)

    def lease(self, name: str) -> LeaseRecord | None:
        """Who holds `name` and until when (expired leases too), or None if never taken."""
        with self._session(write=False) as session:
            return leases.lease(session, name)

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool, fence: LeaseRecord | None = None) -> Iterator[Session]:
        """One transaction; on SQLite a writing one takes the write lock up front. With a
        `fence`, the transaction goes ahead only while that lease holds (`LeaseLost`)."""
        with self._database_errors("writing" if write else "reading"):
            self._require_current_schema()
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                session.connection(execution_options={WRITE_OPTION: write})
                if fence is not None:
                    leases.check_fence(session, fence)
                yield session

    @contextmanager
    def _edit(self, doing: str) -> Iterator[tuple[Session, datetime]]:
        """A writing transaction for one audited change, and the time it is made.

        A uniqueness clash that slipped between check and write (another process)
        becomes `AlreadyRegistered`, so the caller sees a conflict, not a crash.
        """
        with self._session(write=True) as session:
            try:
                yield session, datetime.now(UTC)
                session.flush()
            except IntegrityError as problem:
                raise AlreadyRegistered(
                    f"another change got in first while {doing}: "
                    f"{_first_line(problem.orig)}; look again and retry",
                    owner="",
                ) from problem

    @contextmanager
    def _database_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OperationalError as problem:
            raise RegistryUnavailable(
                f"registry database {self._where} is unavailable while {doing}: "
                f"{_first_line(problem.orig)}"
            ) from problem
        except DBAPIError as problem:
            raise RegistryError(
                f"registry database {self._where} refused {doing}: {_first_line(problem.orig)}"
            ) from problem

    def _require_current_schema(self) -> None:
        if self._schema_ok:
            return
        with self._engine.connect() as connection:
            current = schema.current_revision(connection)
        head = schema.head_revision()
        if current == head:
            self._schema_ok = True
            return
        self._check_not_newer(current)
        if current is None:
            raise SchemaNotCurrent(
                f"registry database {self._where} has no schema yet: run `wherry migrate`"
            )
        raise SchemaNotCurrent(
            f"registry database {self._where} is at schema revision {current}, this wherry "
            f"needs {head}: run `wherry migrate`"
        )

    def _check_not_newer(self, current: str | None) -> None:
        if current is not None and not schema.is_known_revision(current):
            raise SchemaNotCurrent(
                f"registry database {self._where} is at schema revision {current}, which this "
                f"wherry does not know: it was migrated by a newer wherry, so upgrade wherry"
            )

    def _flush_import(self, session: Session) -> None:
        try:
            session.flush()
        except IntegrityError as problem:
            # Another writer got in between the checks and the write (PostgreSQL).
            raise ImportRejected(
                [RowError(0, None, f"the database refused the import: {_first_line(problem.orig)}")]
            ) from problem


def _require_actor(actor: str) -> None:
    problems = actor_problems(actor)
    if problems:
        raise ChangeRejected([FieldProblem("actor", problems[0].reason)])


def _require_aware(at: datetime, name: str) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _unregistered() -> Select[SightingModel]:
    """Sightings of devices registered neither by device_id nor by DevEUI, latest first."""
    return (
        select(SightingModel)
        .where(SightingModel.device_id.not_in(select(DeviceModel.device_id)))
        .where(
            or_(
                SightingModel.dev_eui.is_(None),
                SightingModel.dev_eui.not_in(select(DeviceModel.dev_eui)),
            )
        )
        .order_by(SightingModel.last_seen_ns.desc(), SightingModel.device_id)
    )


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}")


# -- queries -------------------------------------------------------------------------------


def _models_in(
    session: Session, column: InstrumentedAttribute[str], values: Iterable[str]
) -> list[Any]:
    """Models whose `column` is in `values`, in IN-lists small enough for every database."""
    wanted = sorted(set(values))
    entity = column.class_
    found: list[Any] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        query: Select[Any] = select(entity).where(column.in_(chunk))
        found.extend(session.scalars(query))
    return found


def _by_id(session: Session, key: InstrumentedAttribute[str], ids: Iterable[str]) -> dict[str, Any]:
    return {getattr(model, key.key): model for model in _models_in(session, key, ids)}


# -- writing rows --------------------------------------------------------------------------


def _fill_device(model: DeviceModel, row: DeviceRow) -> None:
    model.dev_eui = row.dev_eui
    model.name = row.name
    model.decoder = row.decoder
    model.domain = row.domain
    model.route_id = row.route_id
    model.latitude = None if row.latitude is None else float(row.latitude)
    model.longitude = None if row.longitude is None else float(row.longitude)
    model.public = bool(row.public)
    model.owner = row.owner
    model.field_map = dict(row.field_map)


# -- small helpers -------------------------------------------------------------------------


def _first_line(problem: BaseException | None) -> str:
    return str(problem).strip().splitlines()[0] if problem is not None and str(problem) else "?"


def _sqlite_pragma(connection: Any, statement: str) -> None:
    """Run a PRAGMA outside any transaction (inside one, foreign_keys is silently ignored)."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()

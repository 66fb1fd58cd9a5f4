"""The registry: devices and routes, and what the bridge reports about the rest.

One `Registry` per process, shared by threads; every call is its own transaction.
Frozen records (`records.py`) go in and out, never ORM objects, so callers cannot
lazy-load or mutate the database behind the registry's back.
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, cast

from alembic.util import CommandError
from sqlalchemy import Select, Table, func, or_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.registry import schema
from storage.registry.engine import WRITE_OPTION, registry_engine
from storage.registry.errors import (
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
    AuditModel,
    DeadLetterModel,
    DeviceModel,
    RouteModel,
    SightingModel,
)
from storage.registry.records import (
    AuditRecord,
    DeadLetter,
    DeadLetterRecord,
    DeviceRecord,
    DeviceRow,
    DeviceStatus,
    Domain,
    RouteRecord,
    RouteRow,
    RowError,
    Sighting,
    SightingRecord,
)
from storage.registry.reports import (
    MAX_DEAD_LETTER_BODY,
    dead_letter_row,
    fold_sightings,
    sighting_upsert,
)
from storage.registry.validation import InvalidValue, parse_dev_eui

__all__ = ["MAX_DEAD_LETTER_BODY", "Registry"]

_IN_CHUNK = 500  # ids per IN (…) list, well under SQLite's bound-parameter limit
_MIGRATION_LOCK = 0x77686572  # "wher": PostgreSQL advisory lock taken while migrating
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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

    def devices(self) -> list[DeviceRecord]:
        """Every device, retired ones too, ordered by device_id."""
        with self._session(write=False) as session:
            models = session.scalars(select(DeviceModel).order_by(DeviceModel.device_id))
            return [_device_record(model) for model in models]

    def device(self, device_id: str) -> DeviceRecord | None:
        with self._session(write=False) as session:
            model = session.get(DeviceModel, device_id)
            return _device_record(model) if model is not None else None

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
            return _device_record(model) if model is not None else None

    def routes(self) -> list[RouteRecord]:
        """Every route, ordered by route_id."""
        with self._session(write=False) as session:
            models = session.scalars(select(RouteModel).order_by(RouteModel.route_id))
            return [_route_record(model) for model in models]

    def route(self, route_id: str) -> RouteRecord | None:
        with self._session(write=False) as session:
            model = session.get(RouteModel, route_id)
            return _route_record(model) if model is not None else None

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
                        RowError(
                            row.line,
                            row.device_id,
                            f"dev_eui {row.dev_eui} is already registered to device '{owner}': "
                            f"check the DevEUI, or change or retire '{owner}' first",
                        )
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
                before = _device_record(model) if model is not None else None
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
                after = _device_record(model)
                if after != before:
                    model.updated_at = now
                    session.add(_audit(now, actor, "device", row.device_id, before, after))
            self._flush_import(session)
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
                before = _route_record(model) if model is not None else None
                if model is None:
                    model = RouteModel(route_id=row.route_id, created_at=now)
                    session.add(model)
                model.name = row.name
                model.length_km = float(row.length_km)
                model.priority = int(row.priority)
                model.area = row.area
                after = _route_record(model)
                if after != before:
                    model.updated_at = now
                    session.add(_audit(now, actor, "route", row.route_id, before, after))
            self._flush_import(session)
        return len(rows)

    def audit_entries(
        self, *, entity: str | None = None, entity_id: str | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """The audit log, newest first, optionally for one kind of entity or one entity."""
        _check_limit(limit)
        query = select(AuditModel).order_by(AuditModel.at.desc(), AuditModel.id.desc())
        if entity is not None:
            query = query.where(AuditModel.entity == entity)
        if entity_id is not None:
            query = query.where(AuditModel.entity_id == entity_id)
        with self._session(write=False) as session:
            return [_audit_record(model) for model in session.scalars(query.limit(limit))]

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
        registered_ids = select(DeviceModel.device_id)
        registered_euis = select(DeviceModel.dev_eui)
        query = (
            select(SightingModel)
            .where(SightingModel.device_id.not_in(registered_ids))
            .where(
                or_(
                    SightingModel.dev_eui.is_(None),
                    SightingModel.dev_eui.not_in(registered_euis),
                )
            )
            .order_by(SightingModel.last_seen_ns.desc(), SightingModel.device_id)
        )
        with self._session(write=False) as session:
            return [_sighting_record(model) for model in session.scalars(query)]

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
            return [_dead_letter_record(model) for model in session.scalars(query.limit(limit))]

    def dead_letter_counts(self) -> dict[str, int]:
        """How many dead letters are kept per reason."""
        query = select(DeadLetterModel.reason, func.count()).group_by(DeadLetterModel.reason)
        with self._session(write=False) as session:
            return {reason: int(count) for reason, count in session.execute(query)}

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        """One transaction; on SQLite a writing one takes the write lock up front."""
        with self._database_errors("writing" if write else "reading"):
            self._require_current_schema()
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                session.connection(execution_options={WRITE_OPTION: write})
                yield session

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


# -- model → record ------------------------------------------------------------------------


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


def _device_record(model: DeviceModel) -> DeviceRecord:
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
    )


def _route_record(model: RouteModel) -> RouteRecord:
    return RouteRecord(
        route_id=model.route_id,
        name=model.name,
        length_km=model.length_km,
        priority=model.priority,
        area=model.area,
    )


def _sighting_record(model: SightingModel) -> SightingRecord:
    return SightingRecord(
        network=model.network,
        device_id=model.device_id,
        application_id=model.application_id,
        dev_eui=model.dev_eui,
        f_port=model.f_port,
        payload=bytes(model.payload),
        count=model.uplink_count,
        first_seen=_from_ns(model.first_seen_ns),
        last_seen=_from_ns(model.last_seen_ns),
    )


def _dead_letter_record(model: DeadLetterModel) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=model.id,
        arrived_at=_from_ns(model.arrived_ns),
        topic=model.topic,
        reason=model.reason,
        detail=model.detail,
        body=bytes(model.body),
        body_size=model.body_size,
        body_sha256=model.body_sha256,
        truncated=model.truncated,
    )


def _audit(
    at: datetime, actor: str, entity: str, entity_id: str, before: Any, after: Any
) -> AuditModel:
    return AuditModel(
        at=at,
        actor=actor,
        entity=entity,
        entity_id=entity_id,
        action="create" if before is None else "update",
        origin=_IMPORT_ORIGIN,
        before=None if before is None else asdict(before),
        after=None if after is None else asdict(after),
    )


def _audit_record(model: AuditModel) -> AuditRecord:
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


# -- small helpers -------------------------------------------------------------------------


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _first_line(problem: BaseException | None) -> str:
    return str(problem).strip().splitlines()[0] if problem is not None and str(problem) else "?"


def _sqlite_pragma(connection: Any, statement: str) -> None:
    """Run a PRAGMA outside any transaction (inside one, foreign_keys is silently ignored)."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()

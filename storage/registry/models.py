"""The registry's tables as SQLAlchemy 2 models. Alembic migrations in `migrations/` build them.

Natural ids (`device_id`, `route_id`) are the primary keys: they are what TTN,
the CSVs and the API's URLs use, and TTN never renames a device. Constraints are
named by convention so later migrations can alter them on SQLite (batch mode).
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every dialect.

    SQLite has no time zones, so values are stored there as naive UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("registry times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RouteModel(Base):
    __tablename__ = "routes"
    __table_args__ = (
        CheckConstraint("length_km > 0", name="length_km_positive"),
        CheckConstraint("priority >= 1", name="priority_at_least_1"),
        CheckConstraint("spread_rate_g_m2 > 0", name="spread_rate_positive"),
        CheckConstraint("width_m > 0", name="width_m_positive"),
    )

    route_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    length_km: Mapped[float] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer)
    area: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[dict[str, Any]] = mapped_column(Json, server_default=text("'{}'"))
    spread_rate_g_m2: Mapped[float | None] = mapped_column(Float)
    width_m: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeviceModel(Base):
    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("domain IN ('road', 'air', 'water', 'other')", name="domain_known"),
        CheckConstraint("status IN ('active', 'retired')", name="status_known"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
    )

    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dev_eui: Mapped[str] = mapped_column(String(16), unique=True)
    join_eui: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    decoder: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(8))
    route_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("routes.route_id", ondelete="RESTRICT"), index=True
    )
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    public: Mapped[bool] = mapped_column(Boolean)
    owner: Mapped[str | None] = mapped_column(Text)
    field_map: Mapped[dict[str, str]] = mapped_column(Json)
    site: Mapped[str | None] = mapped_column(Text)
    application_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SightingModel(Base):
    """Uplinks from devices the registry does not know, one row per (network, device_id)."""

    __tablename__ = "sightings"

    network: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(Text, primary_key=True)
    application_id: Mapped[str | None] = mapped_column(Text)
    dev_eui: Mapped[str | None] = mapped_column(Text, index=True)
    uplink_count: Mapped[int] = mapped_column(BigInteger)
    first_seen_ns: Mapped[int] = mapped_column(BigInteger)
    last_seen_ns: Mapped[int] = mapped_column(BigInteger)
    f_port: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class DeadLetterModel(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (Index(None, "reason", "arrived_ns"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    arrived_ns: Mapped[int] = mapped_column(BigInteger, index=True)
    topic: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_size: Mapped[int] = mapped_column(BigInteger)
    body_sha256: Mapped[str] = mapped_column(String(64))
    truncated: Mapped[bool] = mapped_column(Boolean)


class AuditModel(Base):
    """Every change to the registry: imports now, the API's edits, keys and alerts later."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(Text)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json)


class ApiKeyModel(Base):
    """API keys: the secret only as a hash; revoked keys stay, so the audit log can name them."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'engineer', 'highways', 'reader')", name="role_known"),
    )

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_by: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AlertModel(Base):
    """Alerts and their lifecycle. A partial unique index keeps one open alert per key, so
    two replicas raising the same condition at once store it once."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("status IN ('raised', 'acknowledged', 'cleared')", name="status_known"),
        CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity_known"),
        Index(
            "uq_alerts_open_key",
            "key",
            unique=True,
            sqlite_where=text("status <> 'cleared'"),
            postgresql_where=text("status <> 'cleared'"),
        ),
        Index(None, "status", "raised_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    explanation: Mapped[dict[str, Any]] = mapped_column(Json)
    route_id: Mapped[str | None] = mapped_column(String(36), index=True)
    device_id: Mapped[str | None] = mapped_column(String(36), index=True)
    domain: Mapped[str | None] = mapped_column(String(8))
    site: Mapped[str | None] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AlertEventModel(Base):
    """Each step of an alert's life (raised, escalated, acknowledged, cleared), in order."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)


class RouteStatusModel(Base):
    """Each route's current decision, shared by every replica that answers the API."""

    __tablename__ = "route_status"

    route_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    recommendation: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    explanation: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RouteTransitionModel(Base):
    """Every change of a route's state or recommendation: the evidence for the season report."""

    __tablename__ = "route_transitions"
    __table_args__ = (Index(None, "route_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16))
    recommendation: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text)


class TreatmentModel(Base):
    """Gritting runs as highways logged them."""

    __tablename__ = "treatments"
    __table_args__ = (
        CheckConstraint("spread_rate_g_m2 > 0", name="spread_rate_positive"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        Index(None, "route_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("routes.route_id", ondelete="RESTRICT")
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    spread_rate_g_m2: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    logged_by: Mapped[str] = mapped_column(Text)
    logged_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SubscriptionModel(Base):
    """Where alerts are sent. The webhook secret must be kept to sign bodies, so unlike API
    keys it is stored as given; the API never shows it back."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("channel IN ('webhook', 'email')", name="channel_known"),
        CheckConstraint(
            "min_severity IN ('info', 'warning', 'critical')", name="min_severity_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    routes: Mapped[list[str]] = mapped_column(Json)
    domains: Mapped[list[str]] = mapped_column(Json)
    min_severity: Mapped[str] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LeaseModel(Base):
    """Who holds a named lease (the alert engine's: `alerts`) and until when, in milliseconds
    of the database's own clock, so replicas on different machines agree on expiry."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(Text)
    epoch: Mapped[int] = mapped_column(BigInteger)
    acquired_ms: Mapped[int] = mapped_column(BigInteger)
    renewed_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)

"""Initial registry: routes, devices, unregistered sightings, dead letters, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-01-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("length_km", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("area", sa.Text(), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.CheckConstraint("length_km > 0", name=op.f("ck_routes_length_km_positive")),
        sa.CheckConstraint("priority >= 1", name=op.f("ck_routes_priority_at_least_1")),
        sa.PrimaryKeyConstraint("route_id", name=op.f("pk_routes")),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("dev_eui", sa.String(16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("decoder", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(8), nullable=False),
        sa.Column("route_id", sa.String(36), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("field_map", json, nullable=False),
        sa.Column("site", sa.Text(), nullable=True),
        sa.Column("application_id", sa.Text(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.CheckConstraint(
            "domain IN ('road', 'air', 'water', 'other')", name=op.f("ck_devices_domain_known")
        ),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_devices_status_known")),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_devices_latitude_range")),
        sa.CheckConstraint(
            "longitude BETWEEN -180 AND 180", name=op.f("ck_devices_longitude_range")
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["routes.route_id"],
            name=op.f("fk_devices_route_id_routes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_devices")),
        sa.UniqueConstraint("dev_eui", name=op.f("uq_devices_dev_eui")),
    )
    op.create_index(op.f("ix_devices_route_id"), "devices", ["route_id"])
    op.create_table(
        "sightings",
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("application_id", sa.Text(), nullable=True),
        sa.Column("dev_eui", sa.Text(), nullable=True),
        sa.Column("uplink_count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("f_port", sa.Integer(), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("network", "device_id", name=op.f("pk_sightings")),
    )
    op.create_index(op.f("ix_sightings_dev_eui"), "sightings", ["dev_eui"])
    op.create_table(
        "dead_letters",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("arrived_ns", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_size", sa.BigInteger(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(op.f("ix_dead_letters_arrived_ns"), "dead_letters", ["arrived_ns"])
    op.create_index(
        op.f("ix_dead_letters_reason_arrived_ns"), "dead_letters", ["reason", "arrived_ns"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("before", json, nullable=True),
        sa.Column("after", json, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_entity_entity_id"), "audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("dead_letters")
    op.drop_table("sightings")
    op.drop_table("devices")
    op.drop_table("routes")

"""Alerts and their events, route status and transitions, treatments, subscriptions.

New tables only: existing rows are untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
utc = sa.DateTime(timezone=True)
OPEN = sa.text("status <> 'cleared'")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("explanation", json, nullable=False),
        sa.Column("route_id", sa.String(36), nullable=True),
        sa.Column("device_id", sa.String(36), nullable=True),
        sa.Column("domain", sa.String(8), nullable=True),
        sa.Column("site", sa.Text(), nullable=True),
        sa.Column("raised_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("acknowledged_at", utc, nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("cleared_at", utc, nullable=True),
        sa.CheckConstraint(
            "status IN ('raised', 'acknowledged', 'cleared')", name=op.f("ck_alerts_status_known")
        ),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name=op.f("ck_alerts_severity_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(
        "uq_alerts_open_key",
        "alerts",
        ["key"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(op.f("ix_alerts_status_raised_at"), "alerts", ["status", "raised_at"])
    op.create_index(op.f("ix_alerts_route_id"), "alerts", ["route_id"])
    op.create_index(op.f("ix_alerts_device_id"), "alerts", ["device_id"])
    op.create_table(
        "alert_events",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("alert_id", big_id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_events_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(op.f("ix_alert_events_alert_id"), "alert_events", ["alert_id"])
    op.create_table(
        "route_status",
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("recommendation", sa.String(16), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("detail", json, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("route_id", name=op.f("pk_route_status")),
    )
    op.create_table(
        "route_transitions",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("recommendation", sa.String(16), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_transitions")),
    )
    op.create_index(
        op.f("ix_route_transitions_route_id_at"), "route_transitions", ["route_id", "at"]
    )
    op.create_table(
        "treatments",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("route_id", sa.String(36), nullable=False),
        sa.Column("started_at", utc, nullable=False),
        sa.Column("ended_at", utc, nullable=True),
        sa.Column("spread_rate_g_m2", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("logged_by", sa.Text(), nullable=False),
        sa.Column("logged_at", utc, nullable=False),
        sa.CheckConstraint("spread_rate_g_m2 > 0", name=op.f("ck_treatments_spread_rate_positive")),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_treatments_ends_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["routes.route_id"],
            name=op.f("fk_treatments_route_id_routes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatments")),
    )
    op.create_index(
        op.f("ix_treatments_route_id_started_at"), "treatments", ["route_id", "started_at"]
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("routes", json, nullable=False),
        sa.Column("domains", json, nullable=False),
        sa.Column("min_severity", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')", name=op.f("ck_subscriptions_channel_known")
        ),
        sa.CheckConstraint(
            "min_severity IN ('info', 'warning', 'critical')",
            name=op.f("ck_subscriptions_min_severity_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_index(op.f("ix_treatments_route_id_started_at"), table_name="treatments")
    op.drop_table("treatments")
    op.drop_index(op.f("ix_route_transitions_route_id_at"), table_name="route_transitions")
    op.drop_table("route_transitions")
    op.drop_table("route_status")
    op.drop_index(op.f("ix_alert_events_alert_id"), table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index(op.f("ix_alerts_device_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_route_id"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_status_raised_at"), table_name="alerts")
    op.drop_index("uq_alerts_open_key", table_name="alerts")
    op.drop_table("alerts")

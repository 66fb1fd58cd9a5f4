"""API keys; devices gain a JoinEUI; routes gain policy overrides, spread rate and width.

Existing rows keep every value: the new device and route columns are optional,
and `routes.policy` starts as an empty object (no overrides).

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("expires_at", utc, nullable=True),
        sa.Column("revoked_at", utc, nullable=True),
        sa.Column("last_used_at", utc, nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'engineer', 'highways', 'reader')",
            name=op.f("ck_api_keys_role_known"),
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    op.create_index(op.f("ix_api_keys_created_at"), "api_keys", ["created_at"])
    # Batch mode: SQLite rebuilds the table to add CHECK constraints; PostgreSQL alters it.
    with op.batch_alter_table("devices") as devices:
        devices.add_column(sa.Column("join_eui", sa.String(16), nullable=True))
    with op.batch_alter_table("routes") as routes:
        routes.add_column(sa.Column("policy", json, server_default=sa.text("'{}'"), nullable=False))
        routes.add_column(sa.Column("spread_rate_g_m2", sa.Float(), nullable=True))
        routes.add_column(sa.Column("width_m", sa.Float(), nullable=True))
        routes.create_check_constraint(
            op.f("ck_routes_spread_rate_positive"), "spread_rate_g_m2 > 0"
        )
        routes.create_check_constraint(op.f("ck_routes_width_m_positive"), "width_m > 0")


def downgrade() -> None:
    with op.batch_alter_table("routes") as routes:
        routes.drop_constraint(op.f("ck_routes_width_m_positive"), type_="check")
        routes.drop_constraint(op.f("ck_routes_spread_rate_positive"), type_="check")
        routes.drop_column("width_m")
        routes.drop_column("spread_rate_g_m2")
        routes.drop_column("policy")
    with op.batch_alter_table("devices") as devices:
        devices.drop_column("join_eui")
    op.drop_index(op.f("ix_api_keys_created_at"), table_name="api_keys")
    op.drop_table("api_keys")

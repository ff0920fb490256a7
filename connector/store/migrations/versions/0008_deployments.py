"""Deployment gates: tables `deployments` (evidence) and `gate_waits` (held deploys).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Spelled out here (not taken from `schema.metadata`) so this revision stays the same when the live
schema moves on. Both tables start empty; nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.store.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(400), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=False),
        sa.Column("change_source", sa.String(200), nullable=True),
        sa.Column("change_key", sa.String(200), nullable=True),
        sa.Column("triggered_by", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("unauthorized", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint("provider", "reference", name="uq_deployments_provider_reference"),
        sa.CheckConstraint(
            "outcome IN ('success', 'failure', 'in_progress')", name="ck_deployments_outcome"
        ),
    )
    op.create_index(
        "ix_deployments_change_source_change_key", "deployments", ["change_source", "change_key"]
    )
    op.create_index("ix_deployments_started_at", "deployments", ["started_at"])

    op.create_table(
        "gate_waits",
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(400), nullable=False),
        sa.Column("deployment", sa.Text(), nullable=False),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("verdict", sa.String(8), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("provider", "reference", name="pk_gate_waits"),
        sa.CheckConstraint(
            "state IN ('waiting', 'answering', 'answered')", name="ck_gate_waits_state"
        ),
    )
    op.create_index("ix_gate_waits_state", "gate_waits", ["state"])


def downgrade() -> None:
    op.drop_index("ix_gate_waits_state", table_name="gate_waits")
    op.drop_table("gate_waits")
    op.drop_index("ix_deployments_started_at", table_name="deployments")
    op.drop_index("ix_deployments_change_source_change_key", table_name="deployments")
    op.drop_table("deployments")

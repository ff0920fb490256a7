"""Change-control policy: evaluation columns on changes; change_windows, approval_bases,
board_decisions, policy_state.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

The tables are spelled out here (not taken from `schema.metadata`) so this revision stays the
same when the live schema moves on; later changes come as new revisions. Existing `changes`
rows keep their data and get NULL findings / recheck_at (not evaluated yet).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.store.schema import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("changes", sa.Column("findings", sa.Text(), nullable=True))
    op.add_column("changes", sa.Column("recheck_at", UTCDateTime(), nullable=True))
    op.create_index("ix_changes_source_recheck_at", "changes", ["source", "recheck_at"])

    op.create_table(
        "change_windows",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("change_key", sa.String(200), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "change_key", "system", name="pk_change_windows"),
    )
    op.create_index(
        "ix_change_windows_source_system_starts_at",
        "change_windows",
        ["source", "system", "starts_at"],
    )

    op.create_table(
        "approval_bases",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("change_key", sa.String(200), nullable=False),
        sa.Column("approvals_digest", sa.CHAR(64), nullable=False),
        sa.Column("covered", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "change_key", "approvals_digest", name="pk_approval_bases"
        ),
    )

    op.create_table(
        "board_decisions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("change_key", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_board_decisions"),
    )
    op.create_index(
        "ix_board_decisions_source_change_key", "board_decisions", ["source", "change_key"]
    )

    op.create_table(
        "policy_state",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("digest", sa.CHAR(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_policy_state"),
    )


def downgrade() -> None:
    for table in ("policy_state", "board_decisions", "approval_bases", "change_windows"):
        op.drop_table(table)
    op.drop_index("ix_changes_source_recheck_at", table_name="changes")
    # SQLite before 3.35 has no DROP COLUMN: batch mode copies the table there.
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("recheck_at")
        batch.drop_column("findings")

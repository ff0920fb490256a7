"""Deleted tickets: `changes.deleted_at`, and the ledger state `dropped`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Set when the ticket system says the ticket is gone (a Jira delete event confirmed by a 404 on
re-read, a deleted ServiceNow record). The row stays, for the audit trail and the reports;
the actions still to do on that ticket become `dropped` (never retried).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.store.schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_STATES = "'planned', 'claimed', 'applied', 'failed'"


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("ledger") as batch:
        batch.drop_constraint("ck_ledger_state", type_="check")
        batch.create_check_constraint("state", f"state IN ({_STATES}, 'dropped')")


def downgrade() -> None:
    op.execute("UPDATE ledger SET state = 'failed' WHERE state = 'dropped'")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_constraint("ck_ledger_state", type_="check")
        batch.create_check_constraint("state", f"state IN ({_STATES})")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("deleted_at")

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
# 0001 named the CHECK "ck_ledger_state" under the naming convention, which prefixed it again.
_OLD_NAME = "ck_ledger_ck_ledger_state"
_NEW_NAME = "ck_ledger_state"


def _ledger_states(*, drop: str, create: str, states: str) -> None:
    """Replace the ledger's state CHECK (SQLite: by copying the table in batch mode)."""
    with op.batch_alter_table("ledger") as batch:
        batch.drop_constraint(op.f(drop), type_="check")
        batch.create_check_constraint(op.f(create), f"state IN ({states})")


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
    _ledger_states(drop=_OLD_NAME, create=_NEW_NAME, states=f"{_STATES}, 'dropped'")


def downgrade() -> None:
    op.execute("UPDATE ledger SET state = 'failed' WHERE state = 'dropped'")
    _ledger_states(drop=_NEW_NAME, create=_OLD_NAME, states=_STATES)
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("deleted_at")

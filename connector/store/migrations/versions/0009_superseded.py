"""The ledger state `superseded`: a note edited in place, replaced before it was written.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Planning a newer version of a note that is edited in place (the findings note, a release note)
marks the versions of the same ticket and purpose not yet written (planned, failed) `superseded`:
they are never applied, and `remote_ref` names the version that replaced them. Existing rows
keep their states.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = "'planned', 'claimed', 'applied', 'failed', 'dropped'"
_NAME = "ck_ledger_state"


def _ledger_states(states: str) -> None:
    """Replace the ledger's state CHECK (SQLite: by copying the table in batch mode)."""
    with op.batch_alter_table("ledger") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint(op.f(_NAME), f"state IN ({states})")


def upgrade() -> None:
    _ledger_states(f"{_STATES}, 'superseded'")


def downgrade() -> None:
    # Never to be written either way: `dropped` is the older state that says so.
    op.execute("UPDATE ledger SET state = 'dropped' WHERE state = 'superseded'")
    _ledger_states(_STATES)

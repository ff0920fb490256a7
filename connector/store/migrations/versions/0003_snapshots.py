"""Evidence: the normalized change as its approvers saw it, kept with each approval basis, and
an index to read one change's audit links.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

Existing approval bases keep their rows with a NULL snapshot (recorded before snapshots were).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approval_bases") as batch:
        batch.add_column(sa.Column("snapshot", sa.Text(), nullable=True))
    # Evidence of one change: its audit links, in chain order.
    op.create_index("ix_audit_source_ticket_key_seq", "audit", ["source", "ticket_key", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_source_ticket_key_seq", table_name="audit")
    with op.batch_alter_table("approval_bases") as batch:
        batch.drop_column("snapshot")

"""The report's answers stored with each evaluation of a change, so a compliance report reads
them instead of evaluating every stored change again.

Revision ID: 0004
Revises: 0003
Create Date: 2025-03-15

Existing changes get NULL: a report evaluates those again until the worker next evaluates them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("report", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("report")

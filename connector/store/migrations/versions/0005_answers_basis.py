"""The settings the stored report answers of a source were last all taken under.

Revision ID: 0005
Revises: 0004
Create Date: 2025-04-01

`policy_state.answers_basis`: NULL until the worker has taken the report's answers again for
every stored change of the source (changes stored before 0004 have none), and again whenever the
policy or the release-note routes change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("policy_state") as batch:
        batch.add_column(sa.Column("answers_basis", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_state") as batch:
        batch.drop_column("answers_basis")

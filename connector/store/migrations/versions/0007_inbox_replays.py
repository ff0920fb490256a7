"""Inbox replays: `inbox.body_digest` and its index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

The SHA-256 of a delivery's raw body (what the sender's signature covers): a body received again
from the same source within the replay window is a duplicate whatever its delivery id. Rows
written before this revision have none and are never matched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_inbox_source_body_digest_received_at"


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("body_digest", sa.CHAR(64), nullable=True))
    op.create_index(_INDEX, "inbox", ["source", "body_digest", "received_at"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("body_digest")

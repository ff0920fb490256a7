"""The audit chain is kept unforked by its sequence alone: the UNIQUE constraints on
`audit.prev_hash` and `audit.hash` go.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Each link takes `seq = last + 1` from the link it chains to, and `seq` is the primary key: two
writers that read the same last link both try the same `seq`, and the second is refused, which
is what the UNIQUE `prev_hash` also refused. Both constraints were indexes over random 64-character
digests: every link rewrote a page of each at a random place in the file, the largest part of
what a sync wrote to the database (SQLite: several times the data written). `verify()` walks
the chain by `seq` and never looked a link up by its hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNIQUE = (("uq_audit_prev_hash", "prev_hash"), ("uq_audit_hash", "hash"))


def upgrade() -> None:
    # SQLite: the table is copied without them, in batch mode.
    with op.batch_alter_table("audit") as batch:
        for name, _column in _UNIQUE:
            batch.drop_constraint(name, type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        for name, column in _UNIQUE:
            batch.create_unique_constraint(name, [column])

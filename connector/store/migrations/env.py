"""Alembic environment of the store: runs on the connection `engine.migrate` hands over.

`connector.store.engine.migrate()` opens a connection, begins a transaction that is serialized
against other processes, and passes the connection in `config.attributes["connection"]`; the
migrations therefore run inside that transaction. Offline (SQL script) mode is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from connector.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through connector.store (Store.open), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic migrations of the store (run in code by `connector.store.engine.migrate`)."""

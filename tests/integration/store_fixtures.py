"""Store fixtures for the store tests: every test gets a fresh database on SQLite and PostgreSQL.

Import them into a test module with `from store_fixtures import fixture_store  # noqa: F401`
(and the others it uses); the functions are named `fixture_*` so that test parameters called
`store`, `store_url`, `open_store`, `raw_engine` do not shadow an imported name.

- SQLite: a new file under the test's tmp_path.
- PostgreSQL (the real server at 127.0.0.1:5432, database `test`): a uniquely named schema,
  selected with `options=-csearch_path=<schema>` in the URL (with `synchronous_commit=off`, see
  FAST_COMMIT) and dropped afterwards, so parallel
  runs never collide; its name carries the pytest-xdist worker (`t_store_gw1_...`), so a schema
  left by a killed run says where it came from. Override the server with
  CHANGE_CONNECTOR_TEST_PG_URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from connector.store import Store
from connector.store import engine as engines

PG_URL = os.environ.get(
    "CHANGE_CONNECTOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1, ... under `pytest -n`
# A commit returns before its WAL reaches the disk: other sessions see it at once, exactly as
# with a synchronous commit; only a crash of the PostgreSQL server itself, which no test causes,
# could lose it. It takes the disk's flush out of every test transaction.
FAST_COMMIT = "-csynchronous_commit=off"


def _sqlite_url(tmp_path: Path) -> str:
    return Store.default_url(tmp_path / "data")


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (schema not yet migrated) on `backend`, dropped afterwards."""
    if backend == "sqlite":
        yield _sqlite_url(tmp_path)
        return
    schema = f"t_store_{WORKER}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{separator}options={quote(f'-csearch_path={schema} {FAST_COMMIT}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(name="store_url", params=BACKENDS)
def fixture_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (schema not yet migrated)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(name="open_store")
def fixture_open_store(store_url: str) -> Iterator[Callable[[], Store]]:
    """Open more stores on the same database (one engine each, like separate processes)."""
    opened: list[Store] = []

    def _open() -> Store:
        store = Store.open(store_url)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture(name="store")
def fixture_store(open_store: Callable[[], Store]) -> Store:
    return open_store()


@pytest.fixture(name="raw_engine")
def fixture_raw_engine(store_url: str) -> Iterator[Engine]:
    """A plain engine on the test database, for checks and tampering behind the store's back."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    """Move the schema at `url` up (or `down`) to `revision`, as Alembic's command would."""
    from alembic import command

    engine = engines.create(url)
    try:
        with engine.connect().execution_options(**engines.write_options()) as conn, conn.begin():
            config = engines.alembic_config(conn)
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
    finally:
        engine.dispose()

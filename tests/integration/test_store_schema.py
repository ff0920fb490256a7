"""Store schema: migrations create every table, opening is idempotent and safe concurrently."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from store_fixtures import (  # noqa: F401 (fixtures)
    database,
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
    migrate_to,
)

from connector.core.errors import ConfigError, TransientError
from connector.store import Store
from connector.store.engine import HEAD, head_revision, revision
from connector.store.schema import TABLES, metadata

REPO = Path(__file__).resolve().parents[2]


def test_migrations_create_every_table(store: Store, raw_engine: Engine) -> None:
    names = set(inspect(raw_engine).get_table_names())
    assert set(TABLES) <= names
    assert "alembic_version" in names
    with raw_engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == head_revision()


def test_the_shipped_head_is_the_migrations_head() -> None:
    assert head_revision() == HEAD


def alembic_imported_by_open(url: str) -> list[str]:
    """The Alembic modules a new process imports to open the store at `url`."""
    code = (
        "import sys\n"
        "from connector.store import Store\n"
        f"Store.open({url!r}).close()\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_store_at_head_opens_without_migrating(store: Store, store_url: str) -> None:
    """Every open but the first after an upgrade: no write lock, no Alembic (its import was a
    sizeable part of each command's start)."""
    assert alembic_imported_by_open(store_url) == []


def test_a_store_behind_head_is_migrated_by_alembic(store_url: str) -> None:
    migrate_to(store_url, "0009")
    assert "alembic.command" in alembic_imported_by_open(store_url)
    assert alembic_imported_by_open(store_url) == []  # at head now


def test_migrations_match_the_table_definitions(store_url: str, raw_engine: Engine) -> None:
    migrate_to(store_url, "head")  # what the migrations build, from nothing
    with raw_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, metadata) == []


def schema_of(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys, indexes and constraints, with their names, as the database
    reports them (what `compare_metadata` leaves out included: CHECKs, names)."""
    found = inspect(engine)
    out: dict[str, Any] = {}
    for table in found.get_table_names():
        pk = found.get_pk_constraint(table)
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ],
            "pk": (pk.get("name"), pk["constrained_columns"]),
            "indexes": sorted(
                (i["name"], i["column_names"], i["unique"]) for i in found.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], u["column_names"]) for u in found.get_unique_constraints(table)
            ),
            "foreign": sorted(
                (f["name"] or "", f["constrained_columns"], f["referred_table"], str(f["options"]))
                for f in found.get_foreign_keys(table)
            ),
            "checks": sorted((c["name"], c["sqltext"]) for c in found.get_check_constraints(table)),
        }
    return out


def test_a_new_store_is_built_as_the_migrations_build_it(
    store_url: str, raw_engine: Engine, tmp_path: Path
) -> None:
    """A new store is built from the table definitions, without Alembic; a store the migrations
    built from nothing is the same, down to the names a later migration would drop by."""
    Store.open(store_url).close()
    with database(_backend(store_url), tmp_path / "migrated") as other:
        migrate_to(other, "head")
        migrated = create_engine(other)
        try:
            assert schema_of(raw_engine) == schema_of(migrated)
        finally:
            migrated.dispose()
    assert revision(raw_engine) == HEAD


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def test_a_new_store_is_built_without_alembic(store_url: str, raw_engine: Engine) -> None:
    assert alembic_imported_by_open(store_url) == []
    assert revision(raw_engine) == HEAD


def test_open_twice_is_idempotent(open_store: Callable[[], Store]) -> None:
    first = open_store()
    first.set_cursor("jira", '"a"')
    second = open_store()
    assert second.cursor("jira") == '"a"'
    assert first.count_changes() == second.count_changes() == 0


def test_concurrent_open_from_threads(store_url: str) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def _open() -> None:
        try:
            barrier.wait()
            Store.open(store_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=_open) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_concurrent_open_from_processes(store_url: str) -> None:
    code = "import sys; from connector.store import Store; Store.open(sys.argv[1]).close()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, store_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outcomes = [
        (proc.wait(timeout=60), proc.stderr.read() if proc.stderr else b"") for proc in procs
    ]
    for proc in procs:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    with Store.open(store_url) as store:
        assert store.count_changes() == 0


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    with Store.open(Store.default_url(tmp_path)) as store:
        engine = store._engine
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    assert pragma["journal_mode"] == "wal"
    assert pragma["synchronous"] == 1  # NORMAL
    assert int(str(pragma["busy_timeout"])) >= 5000
    assert pragma["foreign_keys"] == 1


def test_sqlite_hands_out_the_connection_returned_last(tmp_path: Path) -> None:
    with Store.open(Store.default_url(tmp_path)) as store:
        engine = store._engine
        with engine.connect() as first, engine.connect() as second:
            first_id = id(first.connection.dbapi_connection)
            second_id = id(second.connection.dbapi_connection)
        for _ in range(3):  # `first` went back to the pool last: its caches are the warm ones
            with engine.connect() as again:
                assert id(again.connection.dbapi_connection) == first_id != second_id
    for memory in ("sqlite://", "sqlite:///:memory:"):  # one connection a thread: no choice
        with Store.open(memory) as store:
            assert store.count_changes() == 0


def test_default_url_creates_the_data_directory(tmp_path: Path) -> None:
    url = Store.default_url(tmp_path / "new" / "dir")
    assert url.endswith("/new/dir/change-connector.db")
    with Store.open(url):
        pass
    assert (tmp_path / "new" / "dir" / "change-connector.db").is_file()


def test_unusable_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Store.open("nosuchdb://x/y")


def test_unreachable_server_is_transient() -> None:
    with pytest.raises(TransientError):
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")

"""Engine set-up and schema migration for the store: SQLite and PostgreSQL specifics live here.

- SQLite (the default, one file under the data directory): every connection gets WAL journaling,
  `synchronous=NORMAL`, a busy timeout and foreign keys. The pool hands out the connection
  returned last: each connection keeps its own page cache (up to 2 MB) and prepared
  statements, so a thread's successive transactions reuse one connection's instead of filling
  those of every pooled connection in turn (a full sync of 20,000 tickets: 5 caches full
  instead of 1). pysqlite's own transaction handling is switched off so the store decides how
  each transaction begins: write transactions start with `BEGIN IMMEDIATE` (they take the
  database write lock up front, so two writers queue on the busy timeout instead of
  deadlocking on a lock upgrade), reads with a plain `BEGIN`.
- PostgreSQL (psycopg 3, `postgresql+psycopg://...`): READ COMMITTED; concurrency is handled by
  row locks, `ON CONFLICT`, `FOR UPDATE SKIP LOCKED` and advisory locks whose 64-bit keys are
  derived from a name and the connection's schema (`lock_key`), so two schemas never share locks.

`migrate()` runs the Alembic migrations in `connector/store/migrations` up to head inside one
transaction that first serializes against other processes (SQLite: `BEGIN IMMEDIATE`;
PostgreSQL: `pg_advisory_xact_lock`), so concurrent `Store.open` calls are safe: the first one
migrates, the others wait and then find the schema at head. A store already at `HEAD` (every
open but the first after an upgrade) is only read: no write lock, and no Alembic, whose import
was ~85 ms of every command's start. A new store (no table in its schema yet) is built from the
table definitions and recorded at `HEAD` in that same transaction, as Alembic's own version
table would record it: the migrations build the same schema (a test compares the two on both
databases), and running them was ~0.1 s of a first sync's start.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    URL,
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.pool import QueuePool

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest migration revision shipped (`head_revision()` reads it from the migrations; a test
#: keeps the two equal).
HEAD = "0010"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option naming the SQLite BEGIN flavour of a connection's next transaction.
SQLITE_BEGIN = "connector_sqlite_begin"


def create(url: str) -> Engine:
    """An engine for `url` with the per-dialect settings described in the module docstring."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **_sqlite_pool(parsed))
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pool(url: URL) -> dict[str, Any]:
    """A file's pool hands out the connection returned last (see the module docstring); an
    in-memory database has one connection a thread, nothing to choose."""
    dialect = cast("type[DefaultDialect]", url.get_dialect())
    if issubclass(dialect.get_pool_class(url), QueuePool):
        return {"pool_use_lifo": True}
    return {}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (a persistent setting), retrying while another connection does.

    SQLite answers a concurrent journal-mode change with SQLITE_BUSY without consulting the
    busy handler, so several processes opening a brand-new database at once need this loop.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def lock_key(namespace: str, name: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for `name` within `namespace` (the schema)."""
    digest = hashlib.sha256(f"change-connector\0{namespace}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def current_schema(engine: Engine) -> str:
    """The schema unqualified table names resolve to ('' on SQLite)."""
    if is_sqlite(engine):
        return ""
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar_one())


def begin_write(conn: Connection, *, namespace: str, lock: str | None = None) -> None:
    """Serialize the transaction `conn` is about to run (or runs) against other writers.

    On SQLite the caller must already have asked for `BEGIN IMMEDIATE` (see `write_options`);
    on PostgreSQL this takes the transaction-scoped advisory lock named `lock`, if any.
    """
    if lock is not None and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(namespace, lock)})


def write_options() -> dict[str, Any]:
    """Execution options that make a connection's transactions start with `BEGIN IMMEDIATE`."""
    return {SQLITE_BEGIN: "IMMEDIATE"}


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code: no alembic.ini needed anywhere."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, *, namespace: str) -> None:
    """Bring the schema to the newest revision; safe to call from several processes at once.
    A schema at `HEAD` is left as it is (revisions only move forward)."""
    if revision(engine) == HEAD:
        return
    with engine.connect().execution_options(**write_options()) as conn, conn.begin():
        begin_write(conn, namespace=namespace, lock="migrate")
        if not inspect(conn).get_table_names():  # a new store (another opener may have built it)
            build(conn)
            return
        from alembic import command

        command.upgrade(alembic_config(conn), "head")


#: Alembic's version table, as Alembic defines it (its default name and primary key).
_VERSION = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def build(conn: Connection) -> None:
    """Create every table of a new store and record it at `HEAD`, in the caller's transaction."""
    from connector.store.schema import metadata

    metadata.create_all(conn)
    _VERSION.create(conn)
    conn.execute(_VERSION.insert().values(version_num=HEAD))


def revision(engine: Engine) -> str | None:
    """The store's schema revision (None: none recorded yet, a new store)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if found is None else str(found)


def head_revision() -> str | None:
    """The newest migration revision shipped with this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def probe(url: str) -> str | None:
    """Why the store at `url` cannot be used, or None: connects once, creates and migrates
    nothing (`check-config`). A SQLite file and its directory need not exist yet (`create`
    makes them), but the nearest existing ancestor must be a writable directory."""
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except Exception as exc:  # SQLAlchemy raises several types for a bad URL
        return f"not a database URL: {' '.join(str(exc).split())}"
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return "an in-memory SQLite store keeps nothing: name a file"
        return _sqlite_path_problem(Path(database).expanduser())
    if backend != "postgresql":
        return f"{backend} is not supported (sqlite or postgresql+psycopg)"
    try:
        engine = create_engine(parsed, connect_args={"connect_timeout": 5})
    except Exception as exc:  # unknown driver, bad options
        return f"not usable: {' '.join(str(exc).split())}"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure is the answer
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return f"cannot connect: {reason}"
    finally:
        engine.dispose()
    return None


def _sqlite_path_problem(path: Path) -> str | None:
    if path.exists():
        return None if path.is_file() else f"{path} is not a file"
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"directory {existing} is not writable"
    return None

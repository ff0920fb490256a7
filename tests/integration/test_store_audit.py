"""Store: the hash-chained audit trail (chaining, concurrent appends, tamper detection)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
    migrate_to,
)

from connector.store import Store
from connector.store.audit import GENESIS, AuditKeying, insert_links, link, link_hash


def append(store: Store, n: int, *, ticket_key: str | None = "OPS-1") -> None:
    store.append_audit(
        source="jira",
        ticket_key=ticket_key,
        event="comment-posted",
        actor="worker-1",
        detail={"n": n, "text": "ünïcode", "nested": {"b": 2, "a": [1, 2]}},
    )


def run_side_by_side(target: Callable[[int], None], workers: int) -> None:
    """`target(0)` ... `target(workers - 1)`, each on a thread of its own, all started at once."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_appended_rows_chain(store: Store) -> None:
    for n in range(3):
        append(store, n, ticket_key=None if n == 1 else "OPS-1")
    rows = list(store.audit_rows())
    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    for prev, row in itertools.pairwise(rows):
        assert row.prev_hash == prev.hash
    for row in rows:
        assert row.at.utcoffset() == timedelta(0)
        assert row.hash == link_hash(
            row.prev_hash,
            seq=row.seq,
            at=row.at,
            source=row.source,
            ticket_key=row.ticket_key,
            event=row.event,
            actor=row.actor,
            detail=row.detail,
        )
    assert rows[1].ticket_key is None
    assert rows[2].detail == {"n": 2, "text": "ünïcode", "nested": {"b": 2, "a": [1, 2]}}
    assert [row.seq for row in store.audit_rows(after_seq=2)] == [3]
    assert store.verify_audit() is None


def test_empty_trail_verifies(store: Store) -> None:
    assert store.verify_audit() is None
    assert list(store.audit_rows()) == []


def test_rolled_back_append_leaves_no_gap(store: Store) -> None:
    append(store, 1)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append_audit(source="jira", ticket_key="X", event="e", actor="a", detail={})
        raise RuntimeError("abort")
    append(store, 2)
    assert [row.seq for row in store.audit_rows()] == [1, 2]
    assert store.verify_audit() is None


def test_concurrent_appends_keep_one_chain(open_store: Callable[[], Store]) -> None:
    stores = [open_store() for _ in range(3)]
    workers, per_worker = 6, 15
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def _append(n: int) -> None:
        store = stores[n % len(stores)]
        try:
            barrier.wait()
            for i in range(per_worker):
                store.append_audit(
                    source="jira", ticket_key=f"T-{n}", event="e", actor=f"w{n}", detail={"i": i}
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    run_side_by_side(_append, workers)
    assert errors == []
    rows = list(stores[0].audit_rows())
    assert [row.seq for row in rows] == list(range(1, workers * per_worker + 1))
    assert len({row.prev_hash for row in rows}) == len(rows)
    assert stores[0].verify_audit() is None


def test_transactions_of_several_links_keep_one_chain(open_store: Callable[[], Store]) -> None:
    # Each transaction reads the chain's last link once and chains its links in memory; the
    # append lock it holds until commit keeps another writer from forking the chain meanwhile.
    stores = [open_store() for _ in range(3)]
    workers, per_tx, txs = 4, 5, 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def _append(n: int) -> None:
        store = stores[n % len(stores)]
        try:
            barrier.wait()
            for _ in range(txs):
                with store.transaction() as tx:
                    for i in range(per_tx):
                        row = tx.append_audit(
                            source="jira",
                            ticket_key=f"T-{n}",
                            event="e",
                            actor="w",
                            detail={"i": i},
                        )
                        assert row.detail == {"i": i}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    run_side_by_side(_append, workers)
    assert errors == []
    rows = list(stores[0].audit_rows())
    assert [row.seq for row in rows] == list(range(1, workers * per_tx * txs + 1))
    # A transaction's links are consecutive: nothing was appended between them.
    for first in range(0, len(rows), per_tx):
        assert len({row.ticket_key for row in rows[first : first + per_tx]}) == 1
        assert [row.detail["i"] for row in rows[first : first + per_tx]] == list(range(per_tx))
    assert stores[0].verify_audit() is None


def _tampered(column: str, sqlite: bool) -> tuple[str, dict[str, Any]]:
    values: dict[str, Any] = {
        "at": "2030-01-01T00:00:00.000000+00:00" if sqlite else datetime(2030, 1, 1, tzinfo=UTC),
        "source": "snow",
        "ticket_key": None,
        "event": "approved",
        "actor": "mallory",
        "detail": '{"n":99}',
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }
    return f"UPDATE audit SET {column} = :value WHERE seq = :seq", {"value": values[column]}


@pytest.mark.parametrize(
    "column", ["at", "source", "ticket_key", "event", "actor", "detail", "prev_hash", "hash"]
)
def test_altering_a_field_breaks_the_chain_at_that_row(
    store: Store, raw_engine: Engine, column: str
) -> None:
    for n in range(5):
        append(store, n)
    sql, params = _tampered(column, raw_engine.dialect.name == "sqlite")
    with raw_engine.begin() as conn:
        assert conn.execute(text(sql), {**params, "seq": 3}).rowcount == 1
    assert store.verify_audit() == 3


def test_reformatted_detail_is_detected(store: Store, raw_engine: Engine) -> None:
    append(store, 0)
    append(store, 1)
    with raw_engine.begin() as conn:
        detail = conn.execute(text("SELECT detail FROM audit WHERE seq = 2")).scalar_one()
        spaced = detail.replace(",", ", ")
        conn.execute(text("UPDATE audit SET detail = :d WHERE seq = 2"), {"d": spaced})
    assert store.verify_audit() == 2


def test_altering_seq_or_deleting_a_row_is_detected(store: Store, raw_engine: Engine) -> None:
    for n in range(5):
        append(store, n)
    with raw_engine.begin() as conn:
        conn.execute(text("UPDATE audit SET seq = 50 WHERE seq = 5"))
    assert store.verify_audit() == 50
    with raw_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit WHERE seq = 2"))
    assert store.verify_audit() == 3


def test_a_second_link_after_the_same_link_is_refused(store: Store, raw_engine: Engine) -> None:
    # A writer that bypassed the append lock and chained to the link another writer chained
    # to takes the same seq: the primary key refuses the fork.
    for n in range(3):
        append(store, n)
    (*_, before, last) = store.audit_rows()
    _row, fork = link(
        (before.seq, before.hash),
        at=datetime(2030, 1, 1, tzinfo=UTC),
        source="jira",
        ticket_key="OPS-9",
        event="forked",
        actor="mallory",
        detail={},
        keying=AuditKeying(),
    )
    assert fork["seq"] == last.seq and fork["prev_hash"] == last.prev_hash
    with pytest.raises(IntegrityError), raw_engine.begin() as conn:
        insert_links(conn, [fork])
    assert [row.seq for row in store.audit_rows()] == [1, 2, 3]
    assert store.verify_audit() is None


def test_the_chain_keeps_its_links_across_the_migration_to_0010(
    store_url: str, raw_engine: Engine
) -> None:
    with Store.open(store_url) as store:
        for n in range(4):
            append(store, n)
        before = list(store.audit_rows())
    migrate_to(store_url, "0009", down=True)
    assert {u["name"] for u in inspect(raw_engine).get_unique_constraints("audit")} == {
        "uq_audit_prev_hash",
        "uq_audit_hash",
    }
    with Store.open(store_url) as store:  # migrates to the head again
        assert list(store.audit_rows()) == before
        assert inspect(raw_engine).get_unique_constraints("audit") == []
        append(store, 4)
        assert store.verify_audit() is None
        assert [row.seq for row in store.audit_rows()] == [1, 2, 3, 4, 5]

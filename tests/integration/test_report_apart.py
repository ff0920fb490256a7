"""The audit chain verified in a child process beside a report's build: the same verdict as
verifying it in the process, for an intact and a tampered chain, on SQLite and PostgreSQL; the
parent's store keeps working afterwards (the child never closes the parent's connections)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, text
from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)

from connector.reports.apart import forks, verify_beside
from connector.reports.gather import audit_state
from connector.store import Store


def _append(store: Store, n: int) -> None:
    store.append_audit(
        source="jira", ticket_key="OPS-1", event="ticket.synced", actor="worker", detail={"n": n}
    )


def test_child_verdict_is_the_in_process_one(store: Store, raw_engine: Engine) -> None:
    for n in range(20):
        _append(store, n)
    assert forks()  # pytest runs this in one thread on Linux: the child process is used
    with ThreadPoolExecutor(max_workers=1) as pool:
        intact = verify_beside(store, None, pool)()
    assert intact == audit_state(store) and intact.intact and intact.links == 20
    with raw_engine.begin() as conn:
        conn.execute(text("UPDATE audit SET actor = 'mallory' WHERE seq = 7"))
    with ThreadPoolExecutor(max_workers=1) as pool:
        broken = verify_beside(store, None, pool)()
    assert broken == audit_state(store)
    assert not broken.intact and broken.broken_at == 7
    _append(store, 20)  # the parent's pooled connections still work
    assert store.audit_head() is not None and store.audit_head().seq == 21  # type: ignore[union-attr]

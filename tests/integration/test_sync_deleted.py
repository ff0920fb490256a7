"""A ticket deleted between the poll that planned writes for it and the writes themselves (no
delete webhook: a poll-only site): recorded once as deleted, its writes dropped, never retried
as a failure, on both systems and both databases."""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import running_sandbox

from connector.commands.demo import sandbox_sources
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store
from connector.sync.poller import poll


def test_a_ticket_deleted_before_its_writes_is_recorded_once_and_not_retried(
    tmp_path: Path, store_url: str
) -> None:
    with running_sandbox(tmp_path, seed_count=12, random_seed=3) as sandbox:
        info = sandbox.info
        settings = Settings(sources=sandbox_sources(info))  # the least-privileged user
        with (
            closing(Store.open(store_url)) as store,
            closing(Worker(settings, store, name="w").open()) as worker,
        ):
            gone: dict[str, str] = {}
            for name, rt in worker.runtimes.items():
                # planned and recorded, not applied yet
                poll(rt, pipeline=rt.pipeline(), executor=None)
                pending = store.ledger_pending(source=name, now=datetime.now(UTC))
                assert pending
                gone[name] = key = pending[0].ticket_key
                if name == "sandbox-jira":
                    sandbox.delete_jira_issue(key)
                else:
                    sandbox.servicenow.delete_change(key)
            for _cycle in range(3):
                stats = worker.sync_once()
                assert [(s.source, s.failed, s.write_failures) for s in stats] == [
                    (name, None, []) for name in worker.runtimes
                ]
            for name, key in gone.items():
                assert store.is_deleted(name, key)
                assert key not in store.change_keys(name)
                events = [row.event for row in store.audit_for(name, key)]
                assert events.count("ticket.deleted") == 1
                assert not [e for e in events if e.endswith(".failed")], events
                assert store.ledger_pending(source=name, now=datetime.now(UTC)) == []
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            states = conn.execute(
                text("SELECT source, ticket_key, state FROM ledger WHERE state <> 'applied'")
            ).all()
    finally:
        engine.dispose()
    assert states and {(s, k) for s, k, _ in states} == set(gone.items())
    assert {state for _, _, state in states} == {"dropped"}


def test_a_ticket_deleted_after_the_cycle_moved_it_is_recorded_not_a_failed_poll(
    tmp_path: Path, store_url: str
) -> None:
    """The re-read of a ticket the cycle just moved (settle) finds it deleted: the poll goes on
    and the ticket is recorded as deleted."""
    with running_sandbox(tmp_path, seed_count=12, random_seed=3) as sandbox:
        settings = Settings(sources=sandbox_sources(sandbox.info))
        deleted: list[tuple[str, str]] = []
        with (
            closing(Store.open(store_url)) as store,
            closing(Worker(settings, store, name="w").open()) as worker,
        ):
            for name, rt in worker.runtimes.items():
                read = rt.fetch_many

                def fetch_after_delete(keys: list[str], name: str = name, read: Any = read) -> Any:
                    if not any(n == name for n, _ in deleted):
                        key = keys[0]
                        if name == "sandbox-jira":
                            sandbox.delete_jira_issue(key)
                        else:
                            sandbox.servicenow.delete_change(key)
                        deleted.append((name, key))
                    return read(keys)

                rt.fetch_many = fetch_after_delete  # type: ignore[method-assign]
            stats = worker.sync_once()
            assert [(s.source, s.failed) for s in stats] == [(n, None) for n in worker.runtimes]
            assert {n for n, _ in deleted} == set(worker.runtimes)  # both re-read a moved one
            for name, key in deleted:
                assert store.is_deleted(name, key)
                events = [row.event for row in store.audit_for(name, key)]
                assert events.count("ticket.deleted") == 1

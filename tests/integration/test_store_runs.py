"""Store: run bookkeeping and the per-source poll lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.store import Store


def test_runs_are_recorded_newest_first(store: Store) -> None:
    first = store.run_start(kind="poll", source="jira", worker="w1")
    second = store.run_start(kind="drain", source="snow", worker="w2")
    store.run_finish(first, status="ok", tickets_seen=10, tickets_changed=3, actions_applied=2)
    store.run_finish(
        second, status="failed", tickets_seen=1, tickets_changed=0, actions_applied=0, error="x"
    )
    runs = store.last_runs(10)
    assert [run.id for run in runs] == [second, first]
    ok = runs[1]
    assert (ok.kind, ok.source, ok.worker, ok.status) == ("poll", "jira", "w1", "ok")
    assert (ok.tickets_seen, ok.tickets_changed, ok.actions_applied) == (10, 3, 2)
    assert ok.finished_at is not None
    assert ok.started_at.utcoffset() == timedelta(0)
    assert ok.finished_at >= ok.started_at
    assert runs[0].error == "x"
    assert store.last_runs(1)[0].id == second
    running = store.run_start(kind="sync", source="jira", worker="w1")
    assert store.last_runs(1)[0].status == "running"
    assert store.last_runs(1)[0].id == running


def test_only_one_worker_holds_a_source(open_store: Callable[[], Store]) -> None:
    one, two = open_store(), open_store()
    with one.try_source_lock("jira") as held:
        assert held is True
        with two.try_source_lock("jira") as other:
            assert other is False
        with two.try_source_lock("snow") as other_source:
            assert other_source is True
    with two.try_source_lock("jira") as held_now:
        assert held_now is True


def test_source_lock_across_threads(store: Store) -> None:
    barrier = threading.Barrier(4)
    release = threading.Event()
    results: list[bool] = []

    def _poll() -> None:
        barrier.wait()
        with store.try_source_lock("jira") as held:
            results.append(held)
            if held:
                release.wait(5)

    threads = [threading.Thread(target=_poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    while len(results) < 4:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]


def test_in_memory_sqlite_lock(tmp_path: Path) -> None:
    with Store.open("sqlite://") as store:
        with store.try_source_lock("jira") as held, store.try_source_lock("jira") as again:
            assert (held, again) == (True, False)
        with store.try_source_lock("jira") as held:
            assert held is True

"""The sync worker end to end over HTTPS against the sandbox, on SQLite and PostgreSQL.

Replay (a second pass plans nothing and writes nothing), the cursor's edge cases (same minute,
late index visibility), and a lost database (the ticket markers still prevent duplicates).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import (
    jira_markers,
    reset_log,
    running_sandbox,
    servicenow_markers,
    ticket_writes,
)

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

COUNT = 40


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=5) as box:
        yield box


def make_worker(sandbox: Sandbox, store: Store, **overrides: object) -> Worker:
    sources = {
        name: source.model_copy(update=overrides)
        for name, source in sandbox_sources(sandbox.info).items()
    }
    return Worker(Settings(sources=sources), store, name="test-worker").open()


def test_second_pass_plans_nothing_and_writes_nothing(sandbox: Sandbox, store_url: str) -> None:
    info = sandbox.info
    with closing(Store.open(store_url)) as store, closing(make_worker(sandbox, store)) as worker:
        first = worker.sync_once()
        assert sum(s.changed for s in first) == 2 * COUNT
        assert store.count_changes() == 2 * COUNT
        written = sum(s.written for s in first)
        assert written > 0 and len(ticket_writes(info)) >= written
        reset_log(info)
        second = worker.sync_once()
    assert [s.changed for s in second] == [0, 0]
    assert [s.planned for s in second] == [0, 0]
    assert ticket_writes(info) == []
    # Every written note is on its ticket exactly once.
    assert set(jira_markers(sandbox).values()) == {1}
    assert set(servicenow_markers(sandbox, info).values()) == {1}


def jira_edit(sandbox: Sandbox, key: str, summary: str) -> None:
    info = sandbox.info
    response = requests.put(
        f"{info.jira_url}/rest/api/2/issue/{key}",
        json={"fields": {"summary": summary}},
        auth=info.credentials("alice"),
        verify=info.ca_bundle,
        timeout=10,
    )
    assert response.status_code == 204, response.text


def stored_title(store: Store, key: str) -> str | None:
    from connector.core.model import Change

    text = store.get_change("sandbox-jira", key)
    return None if text is None else Change.from_json(text).title


def test_same_minute_updates_are_not_lost(sandbox: Sandbox, store_url: str) -> None:
    """With no look-back at all, minute-precision JQL still catches same-minute updates."""
    with (
        closing(Store.open(store_url)) as store,
        closing(make_worker(sandbox, store, lookback_minutes=0.0)) as worker,
    ):
        worker.sync_once()
        jira_edit(sandbox, "CHG-3", "First edit")
        worker.sync_once()  # the cursor is now at this minute
        jira_edit(sandbox, "CHG-4", "Second edit, same minute")
        jira_edit(sandbox, "CHG-3", "First edit, edited again")
        worker.sync_once()
        assert stored_title(store, "CHG-4") == "Second edit, same minute"
        assert stored_title(store, "CHG-3") == "First edit, edited again"


def test_updates_visible_late_are_caught_by_the_look_back(sandbox: Sandbox, store_url: str) -> None:
    with closing(Store.open(store_url)) as store, closing(make_worker(sandbox, store)) as worker:
        worker.sync_once()
        jira_edit(sandbox, "CHG-5", "Edited first, indexed late")
        sandbox.jira.index_lag("CHG-5", lagging=True)
        jira_edit(sandbox, "CHG-6", "Edited second, indexed at once")
        worker.sync_once()  # the cursor passes CHG-5's update time
        assert stored_title(store, "CHG-6") == "Edited second, indexed at once"
        assert stored_title(store, "CHG-5") != "Edited first, indexed late"
        sandbox.jira.index_lag("CHG-5", lagging=False)
        worker.sync_once()
        assert stored_title(store, "CHG-5") == "Edited first, indexed late"


def test_lost_database_still_writes_nothing_twice(
    sandbox: Sandbox, store_url: str, tmp_path: Path
) -> None:
    info = sandbox.info
    with closing(Store.open(store_url)) as store, closing(make_worker(sandbox, store)) as worker:
        assert sum(s.written for s in worker.sync_once()) > 0
    before = (jira_markers(sandbox), servicenow_markers(sandbox, info))
    fresh_url = Store.default_url(tmp_path / "rebuilt")  # a new, empty database
    reset_log(info)
    with closing(Store.open(fresh_url)) as store, closing(make_worker(sandbox, store)) as worker:
        stats = worker.sync_once()
        assert store.count_changes() == 2 * COUNT
    assert sum(s.written for s in stats) == 0
    assert [w for w in ticket_writes(info)] == []
    assert (jira_markers(sandbox), servicenow_markers(sandbox, info)) == before

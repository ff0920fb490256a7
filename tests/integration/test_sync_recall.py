"""A site larger than what the adapters keep of the tickets read: writes follow the scan, so
the checks before them read the tickets their page no longer holds in bulk, never one by one.

The adapters keep the last `CACHE_ISSUES` / `REMEMBERED` tickets read (2,500; a batch of writes
names at most 500); here they keep 20 of 60 (a batch 2), so most of a first sync's writes go to
tickets pushed out since their page. Over HTTPS against the sandbox, on SQLite and PostgreSQL:
the notes land once each, a second pass writes nothing, and the calls are the bulk re-reads,
not a read per ticket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import (
    jira_markers,
    request_log,
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
from connector.sync import executor
from connector.systems import jira_notes, servicenow_journal

COUNT = 60
KEPT = 20
WRITERS = 4  # the sources' default write_concurrency
ONE_ISSUE = re.compile(r"/rest/api/2/issue/[^/]+(/properties/change-connector)?$")
ONE_CHANGE = re.compile(r"/api/now/table/change_request/[0-9a-f]{32}$")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setattr(jira_notes, "MarkerCache", partial(jira_notes.MarkerCache, size=KEPT))
    monkeypatch.setattr(servicenow_journal, "REMEMBERED", KEPT)
    # As on a real site, a batch of writes names fewer tickets than the adapters keep.
    monkeypatch.setattr(executor, "LEDGER_PAGE", KEPT // 10)
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=5) as box:
        yield box


def first_sync_calls(sandbox: Sandbox, store_url: str, *, source: str) -> list[dict[str, Any]]:
    """The calls of a first sync of `source` on a new store, which writes; a second pass
    plans and writes nothing."""
    info, sources = sandbox.info, {source: sandbox_sources(sandbox.info)[source]}
    with (
        closing(Store.open(store_url)) as store,
        closing(Worker(Settings(sources=sources), store, name="recall-test").open()) as worker,
    ):
        reset_log(info)
        [stats] = worker.sync_once()
        log = request_log(info)
        assert stats.written > 0
        reset_log(info)
        [again] = worker.sync_once()
        assert (again.planned, ticket_writes(info)) == (0, [])
    return log


def test_jira_writes_read_the_issues_pushed_out_in_bulk(sandbox: Sandbox, store_url: str) -> None:
    log = first_sync_calls(sandbox, store_url, source="sandbox-jira")
    notes = jira_markers(sandbox)
    assert notes and set(notes.values()) == {1}
    written = {key for key, _ in notes}
    assert len(written) > KEPT  # more issues written than the cache holds
    # No issue read on its own, its markers included: what a check needs came in bulk.
    assert [r["path"] for r in log if r["method"] == "GET" and ONE_ISSUE.search(r["path"])] == []
    fetches = [r for r in log if r["path"].endswith("/issue/bulkfetch")]
    assert 1 <= len(fetches) <= len(written)


def test_servicenow_writes_read_the_changes_pushed_out_in_bulk(
    sandbox: Sandbox, store_url: str
) -> None:
    log = first_sync_calls(sandbox, store_url, source="sandbox-servicenow")
    notes = servicenow_markers(sandbox, sandbox.info)
    assert notes and set(notes.values()) == {1}
    assert len({sys_id for sys_id, _ in notes}) > KEPT
    # No change read on its own (its journal, its columns): they came back a page at a time,
    # but for the first notes written, read back to prove the journal readable (one a thread).
    alone = [r["path"] for r in log if r["method"] == "GET" and ONE_CHANGE.search(r["path"])]
    assert len(alone) <= WRITERS

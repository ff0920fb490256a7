"""Jira sync markers in the issue property, on Cloud and Data Center, SQLite and PostgreSQL.

Checking markers costs no call (they come with each search page); on Cloud a batch's notes cost
one comment POST each plus the bulk marker writes (pending before, done after, 100 issues a
request, each followed by its task; the tickets a cycle moves are one batch, the others
another); and a worker that dies between the marker writes and the
comment POSTs, whose database is then lost, leaves exactly one comment per note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import (
    jira_marker_property,
    jira_markers,
    request_log,
    reset_log,
    running_sandbox,
    ticket_writes,
)

from connector.commands.demo import sandbox_sources
from connector.core.planner import TRANSITION
from connector.sandbox import Sandbox
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store
from connector.systems.jira import JiraAdapter
from connector.systems.jira_markers import PROPERTY_KEY
from connector.systems.jira_notes import BULK_FROM, JiraNotes

COUNT = 30


@pytest.fixture(params=["cloud", "datacenter"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=12, mode=request.param) as box:
        yield box


def jira_worker(sandbox: Sandbox, store: Store) -> Worker:
    sources = {"sandbox-jira": sandbox_sources(sandbox.info)["sandbox-jira"]}
    return Worker(Settings(sources=sources), store, name="marker-test").open()


def assert_property_matches_comments(sandbox: Sandbox) -> None:
    """Every worker comment is named, done, by its issue's marker property with its id, and
    only once."""
    comments = jira_markers(sandbox)
    assert comments and set(comments.values()) == {1}
    marks = jira_marker_property(sandbox)
    with sandbox.state.lock:
        refs = {
            (issue.key, str(p["value"]["marker"])): str(c.id)
            for issue in sandbox.jira.store.issues.values()
            for c in issue.comments
            for p in c.properties
            if p.get("key") == "change-connector"
        }
    assert marks.keys() == refs.keys()
    assert {k: m["state"] for k, m in marks.items()} == dict.fromkeys(refs, "done")
    assert [k for k, m in marks.items() if m["ref"] != refs[k]] == []


def issue_ids(sandbox: Sandbox, keys: set[str]) -> set[int]:
    return {issue.id for key in keys if (issue := sandbox.jira.store.get(key)) is not None}


def tickets_moved(store: Store) -> set[str]:
    """The tickets with a move planned (the executor writes them, whole, before the others)."""
    return {
        e.ticket_key
        for key in store.change_keys("sandbox-jira")
        for e in store.ledger_for(source="sandbox-jira", ticket_key=key)
        if e.action == TRANSITION
    }


def bulk_writes(sandbox: Sandbox) -> tuple[list[list[int]], list[list[int]]]:
    """The issues of each bulk marker write, in the order written: those that set a `pending`
    marker (before a batch's comments), and those that set only `done` markers (after)."""
    armed: list[list[int]] = []
    confirmed: list[list[int]] = []
    for task in sandbox.jira.tasks.by_id.values():
        states = {
            note["state"]
            for _, properties in task.work
            for note in properties[PROPERTY_KEY]["notes"].values()
        }
        (armed if "pending" in states else confirmed).append([issue for issue, _ in task.work])
    return armed, confirmed


def test_checking_markers_on_a_synced_page_costs_no_call(
    sandbox: Sandbox, store_url: str, tmp_path: Path
) -> None:
    info = sandbox.info
    with closing(Store.open(store_url)) as store, closing(jira_worker(sandbox, store)) as worker:
        assert sum(s.written for s in worker.sync_once()) > 0
    assert_property_matches_comments(sandbox)
    before = jira_markers(sandbox)
    reset_log(info)
    # A new, empty database: every note is planned again and checked against the ticket.
    fresh = Store.default_url(tmp_path / "rebuilt")
    with closing(Store.open(fresh)) as store, closing(jira_worker(sandbox, store)) as worker:
        stats = worker.sync_once()
    assert sum(s.written for s in stats) == 0 and sum(s.planned for s in stats) > 0
    assert ticket_writes(info) == []
    reads = [r["path"] for r in request_log(info) if r["system"] == "jira"]
    assert [p for p in reads if "/comment" in p or "/properties" in p] == []
    assert jira_markers(sandbox) == before


class Crash(BaseException):
    """The worker process dies here (not an Exception: nothing may catch and carry on)."""


def crash_once(
    monkeypatch: pytest.MonkeyPatch, *, after_post: bool
) -> Callable[[], list[tuple[str, str]]]:
    """The first comment POST kills the worker, before or after the POST reaches Jira; the
    (issue, marker) it was posting is recorded."""
    posted: list[tuple[str, str]] = []
    original = JiraAdapter.post_comment

    def post_comment(self: JiraAdapter, key: str, **kwargs: Any) -> str:
        if posted:
            return original(self, key, **kwargs)
        posted.append((key, str(kwargs["marker"])))
        if after_post:
            original(self, key, **kwargs)
        raise Crash

    monkeypatch.setattr(JiraAdapter, "post_comment", post_comment)
    return lambda: posted


@pytest.mark.parametrize("after_post", [False, True], ids=["before-post", "after-post"])
def test_lost_database_after_a_crash_around_the_comment_post_writes_no_duplicate(
    sandbox: Sandbox,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    after_post: bool,
) -> None:
    crashed = crash_once(monkeypatch, after_post=after_post)
    with (
        closing(Store.open(store_url)) as store,
        closing(jira_worker(sandbox, store)) as worker,
        pytest.raises(Crash),
    ):
        worker.sync_once()
    [(issue_id, marker)] = crashed()
    key = sandbox.jira.store.issues[int(issue_id)].key  # the worker names issues by id
    assert jira_marker_property(sandbox)[(key, marker)]["state"] == "pending"
    assert jira_markers(sandbox).get((key, marker), 0) == (1 if after_post else 0)
    monkeypatch.undo()

    fresh = Store.default_url(tmp_path / "rebuilt")  # the database is lost with the worker
    with closing(Store.open(fresh)) as store, closing(jira_worker(sandbox, store)) as worker:
        worker.sync_once()
    assert jira_markers(sandbox)[(key, marker)] == 1
    assert_property_matches_comments(sandbox)

    reset_log(sandbox.info)  # and a replay writes nothing
    with closing(Store.open(fresh)) as store, closing(jira_worker(sandbox, store)) as worker:
        worker.sync_once()
    assert ticket_writes(sandbox.info) == []


@pytest.mark.parametrize("polls", [0, 2])
def test_a_page_of_notes_costs_one_post_each_and_its_bulk_marker_writes(
    tmp_path: Path, store_url: str, polls: int
) -> None:
    with (
        running_sandbox(tmp_path, seed_count=COUNT, random_seed=12, jira_task_polls=polls) as box,
        closing(Store.open(store_url)) as store,
        closing(jira_worker(box, store)) as worker,
    ):
        reset_log(box.info)
        assert sum(s.written for s in worker.sync_once()) > 0
        log = [r for r in request_log(box.info) if r["system"] == "jira"]
        notes = jira_markers(box)
        assert_property_matches_comments(box)
        noted = issue_ids(box, {key for key, _ in notes})
        moving = issue_ids(box, tickets_moved(store))

    def count(method: str, suffix: str) -> int:
        return sum(r["method"] == method and r["path"].endswith(suffix) for r in log)

    assert count("POST", "/comment") == sum(notes.values()) == len(notes)
    # Two batches of writes, one ledger page each (30 tickets plan fewer than 500 actions): the
    # tickets the cycle moves (their notes with their moves), then the others, once the moved
    # tickets are read again. Each batch sets its notes' `pending` markers in one bulk write
    # (fewer than 100 issues) and their `done` markers in at most one more: an issue whose
    # later write in the batch (a label, a transition) carried them needs none.
    armed, confirmed = bulk_writes(box)
    assert [set(t) for t in armed] == [noted & moving, noted - moving]
    assert len(noted & moving) >= BULK_FROM and len(noted - moving) >= BULK_FROM
    assert len(confirmed) == 2 and all(
        set(c) <= set(a) for c, a in zip(confirmed, armed, strict=True)
    )
    assert count("POST", "/issue/properties/multi") == len(armed) + len(confirmed)
    tasks = sum(r["method"] == "GET" and "/task/" in r["path"] for r in log)
    assert tasks == (len(armed) + len(confirmed)) * (polls + 1)
    assert [r for r in log if "/properties/change-connector" in r["path"]] == []


def test_lost_database_after_a_crash_between_the_bulk_pending_and_the_posts_writes_no_duplicate(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloud: the page's pending markers are written (their task ended), then the worker
    dies before any comment goes out; a worker on a new database posts each note once."""
    armed = JiraNotes.arm

    def arm_then_die(self: JiraNotes, planned: Any) -> None:
        armed(self, planned)
        raise Crash

    monkeypatch.setattr(JiraNotes, "arm", arm_then_die)
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=12) as box:
        with (
            closing(Store.open(store_url)) as store,
            closing(jira_worker(box, store)) as worker,
            pytest.raises(Crash),
        ):
            worker.sync_once()
        pending = {k for k, m in jira_marker_property(box).items() if m["state"] == "pending"}
        assert pending and jira_markers(box) == {}
        monkeypatch.undo()

        fresh = Store.default_url(tmp_path / "rebuilt")
        with closing(Store.open(fresh)) as store, closing(jira_worker(box, store)) as worker:
            worker.sync_once()
        notes = jira_markers(box)
        assert pending <= set(notes) and set(notes.values()) == {1}
        assert_property_matches_comments(box)


def test_a_large_page_of_notes_sets_its_markers_100_issues_a_request(
    tmp_path: Path, store_url: str
) -> None:
    with (
        running_sandbox(tmp_path, seed_count=250, random_seed=12) as box,
        closing(Store.open(store_url)) as store,
        closing(jira_worker(box, store)) as worker,
    ):
        reset_log(box.info)
        worker.sync_once()
        log = [r for r in request_log(box.info) if r["system"] == "jira"]
        notes = jira_markers(box)
        tasks = [[issue for issue, _ in task.work] for task in box.jira.tasks.by_id.values()]
        ids = issue_ids(box, {key for key, _ in notes})
        moving = issue_ids(box, tickets_moved(store))
        assert_property_matches_comments(box)
    assert max(map(len, tasks)) == 100 and all(len(t) <= 100 for t in tasks)
    assert ids <= {i for t in tasks for i in t}  # every noted issue went through a bulk write
    posts = sum(r["method"] == "POST" and r["path"].endswith("/comment") for r in log)
    bulk = sum(r["path"].endswith("/issue/properties/multi") for r in log)
    polls = sum("/task/" in r["path"] for r in log)
    assert posts == len(notes) and bulk == polls == len(tasks)
    # N notes: N posts plus the bulk writes, each read once. Two batches of writes here, one
    # ledger page each (the moving tickets, then the others): each sets its `pending` markers
    # 100 issues a request (only its last request holds fewer) and its `done` markers in at
    # most as many (none for an issue whose later write in the batch carried them).
    armed, confirmed = bulk_writes(box)
    assert len(armed) + len(confirmed) == bulk
    first, *others = armed
    assert set(first) <= moving and len(first) < 100  # the moving tickets' notes: one request
    assert len(others) == math.ceil(sum(map(len, others)) / 100) > 1
    assert [len(t) for t in others[:-1]] == [100] * (len(others) - 1)
    assert len(confirmed) <= len(armed)
    assert {i for t in confirmed for i in t} <= {i for t in armed for i in t}
    assert [r for r in log if "/properties/change-connector" in r["path"]] == []

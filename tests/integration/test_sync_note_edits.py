"""The first full sync of a Jira site writes each findings note once: none is edited in the
cycle that posted it. The cycle's moves approve and schedule windows, which gives the changes
overlapping them a new conflict; a ticket that moves is written whole (its notes with its
move) before the others are evaluated again, and the others' notes after, from their final
state. Against the sandbox over HTTPS, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import jira_markers, running_sandbox

from connector.commands.demo import sandbox_sources
from connector.core.planner import FINDINGS
from connector.sandbox.jira import JiraSimulator
from connector.sandbox.jira.store import Comment, Issue
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

COUNT = 250  # enough changes for windows that overlap, some of them moved by the cycle
RANDOM_SEED = 12


def test_the_first_full_sync_edits_no_note_it_posted(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited: Counter[str] = Counter()
    original = JiraSimulator.edit_comment

    def edit_comment(
        self: JiraSimulator, issue: Issue, comment: Comment, actor: str, *args: Any
    ) -> None:
        edited[issue.key] += actor == "connector"
        original(self, issue, comment, actor, *args)

    monkeypatch.setattr(JiraSimulator, "edit_comment", edit_comment)
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        sources = {"sandbox-jira": sandbox_sources(box.info)["sandbox-jira"]}
        with (
            closing(Store.open(store_url)) as store,
            closing(Worker(Settings(sources=sources), store, name="edits-test").open()) as worker,
        ):
            [stats] = worker.sync_once()
            assert stats.failed is None and stats.written > 0 and stats.moved > 0
            ledger = [
                e
                for key in {k for k, _ in jira_markers(box)}
                for e in store.ledger_for(source="sandbox-jira", ticket_key=key)
                if e.action == FINDINGS
            ]
        notes = jira_markers(box)
    assert +edited == Counter()
    # every findings note is on its ticket once, and the ledger applied one version of each
    findings = [k for k, m in notes if m == f"change-connector:{FINDINGS}"]
    assert findings and set(notes.values()) == {1}
    applied = Counter(e.ticket_key for e in ledger if e.state == "applied")
    assert applied == Counter(findings)

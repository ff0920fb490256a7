"""Adapters against the sandbox under faults (429, 502, 503, dropped connections).

Reads see every seeded ticket exactly once; marker writes land exactly once even when an
answer is lost after the server applied the write (`drop:...,applied=1`, on top of the usual
faults); transitions and state changes are looked up at run time and skip what is done.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest
from loguru import logger

from connector.commands.demo import sandbox_sources
from connector.core.errors import PermanentError
from connector.sandbox import Sandbox, SandboxOptions
from connector.sandbox.faults import FaultRule
from connector.sandbox.jira.store import Issue
from connector.systems.http import RetryPolicy
from connector.systems.jira import PROPERTY_KEY, JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter

SEEDED = 300
FAULTS = (
    "429:rate=0.2,retry_after=0.05;503:rate=0.05;502:rate=0.03;drop:rate=0.05;"
    "drop:rate=0.05,applied=1"
)
FAST = RetryPolicy(attempts=12, base_seconds=0.005, max_backoff_seconds=0.05, rng=random.Random(7))
JQL = "project in (CHG, OPS) ORDER BY updated ASC, key ASC"


def _sandbox(tmp: Path, mode: Literal["cloud", "datacenter"]) -> Iterator[Sandbox]:
    options = SandboxOptions(
        data_dir=tmp, seed_count=SEEDED, mode=mode, faults=FAULTS, random_seed=11
    )
    sandbox = Sandbox(options)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module", params=["cloud", "datacenter"])
def faulty(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    yield from _sandbox(tmp_path_factory.mktemp(f"faulty-{request.param}"), request.param)


@pytest.fixture(scope="module")
def faulty_snow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from _sandbox(tmp_path_factory.mktemp("faulty-snow"), "cloud")


@pytest.fixture
def jira(faulty: Sandbox) -> Iterator[JiraAdapter]:
    source = sandbox_sources(faulty.info)["sandbox-jira"].model_copy(update={"page_size": 25})
    adapter = JiraAdapter("sandbox-jira", source, policy=FAST)
    yield adapter
    adapter.close()
    # Sockets of failed calls can wait in reference cycles: close them before the server stops.
    gc.collect()


@pytest.fixture
def snow(faulty_snow: Sandbox) -> Iterator[ServiceNowAdapter]:
    sources = sandbox_sources(faulty_snow.info)
    source = sources["sandbox-servicenow"].model_copy(update={"page_size": 25})
    adapter = ServiceNowAdapter("sandbox-servicenow", source, policy=FAST)
    yield adapter
    adapter.close()
    gc.collect()


@contextmanager
def _log() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="INFO")
    try:
        yield lines
    finally:
        logger.remove(sink)


def _faulted(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.state.requests if r.status in (429, 502, 503))


def _issue_in(sandbox: Sandbox, status: str, *, skip: int = 0) -> Issue:
    found = [i for i in sandbox.jira.store.issues.values() if i.status == status]
    return found[skip]


def _marked(issue: Issue, marker: str) -> int:
    return sum(
        1
        for c in issue.comments
        for p in c.properties
        if p.get("key") == PROPERTY_KEY and (p.get("value") or {}).get("marker") == marker
    )


def test_jira_reads_every_ticket_once(jira: JiraAdapter, faulty: Sandbox) -> None:
    keys = [issue["key"] for issue in jira.search(JQL, fields="status,updated")]
    assert len(keys) == SEEDED
    assert len(set(keys)) == SEEDED
    assert _faulted(faulty) > 0  # the faults did fire


def test_jira_comment_lands_once_under_faults(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Draft")
    for n in range(12):
        marker = f"findings-{n}"
        comment_id = jira.post_comment(issue.key, body=f"h3. Findings {n}", marker=marker)
        assert _marked(issue, marker) == 1
        assert jira.find_comment(issue.key, marker) == comment_id
    assert jira.find_comment(issue.key, "never-posted") is None


def test_comment_whose_answer_is_lost_after_apply(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Draft", skip=4)
    # The very next Jira call (the POST) is carried out, then its connection is cut.
    faulty.state.faults.rules.insert(0, FaultRule("drop", scope="jira", nth=1, applied=1))
    with _log() as lines:
        comment_id = jira.post_comment(issue.key, body="h3. Findings", marker="lost-answer")
    assert _marked(issue, "lost-answer") == 1
    assert comment_id == str(issue.comments[-1].id)
    assert any("already applied" in line for line in lines)


def test_check_before_write_keeps_one_comment(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Draft", skip=1)
    jira.post_comment(issue.key, body="first", marker="release-notes")
    # A second run (say, after the database was lost) checks the ticket before writing.
    existing = jira.find_comment(issue.key, "release-notes")
    assert existing is not None
    jira.edit_comment(issue.key, existing, body="updated in place")
    assert _marked(issue, "release-notes") == 1
    assert [c.body for c in issue.comments if c.id == int(existing)] == ["updated in place"]


def test_transition_to_current_status_is_a_no_op(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Approved")
    histories = len(issue.histories)
    assert jira.transition(issue.key, name="Approve", fields={}, target_status="Approved") is False
    assert len(issue.histories) == histories


def test_transition_by_name_once_under_faults(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Approved", skip=1)
    histories = len(issue.histories)
    assert jira.transition(issue.key, name="Schedule", fields={}) is True
    assert issue.status == "Scheduled"
    assert len(issue.histories) == histories + 1
    # The name's target was learned: asking again is a no-op, not an error.
    assert jira.transition(issue.key, name="Schedule", fields={}) is False


def test_unavailable_transition_is_permanent(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Draft", skip=2)
    with pytest.raises(PermanentError, match=r"transition 'Close' is not available from status"):
        jira.transition(issue.key, name="Close", fields={"resolution": {"name": "Done"}})


def test_properties_labels_and_fetch(jira: JiraAdapter, faulty: Sandbox) -> None:
    issue = _issue_in(faulty, "Draft", skip=3)
    assert jira.get_property(issue.key, "change-connector.sync") is None
    jira.set_property(issue.key, "change-connector.sync", {"fingerprint": "abc"})
    assert jira.get_property(issue.key, "change-connector.sync") == {"fingerprint": "abc"}
    jira.add_label(issue.key, "cc-checked")
    jira.add_label(issue.key, "cc-checked")
    assert issue.labels.count("cc-checked") == 1
    jira.remove_label(issue.key, "cc-checked")
    assert "cc-checked" not in issue.labels
    assert jira.fetch(issue.key).data["key"] == issue.key


def test_servicenow_reads_every_change_once(snow: ServiceNowAdapter, faulty_snow: Sandbox) -> None:
    sys_ids = [row["sys_id"]["value"] for row in snow.changes()]
    assert len(sys_ids) == SEEDED
    assert len(set(sys_ids)) == SEEDED
    assert _faulted(faulty_snow) > 0


def _change_ids(sandbox: Sandbox) -> list[str]:
    return sorted(sandbox.servicenow.store.tables["change_request"].rows)


def test_work_note_lands_once_under_faults(snow: ServiceNowAdapter, faulty_snow: Sandbox) -> None:
    sys_id = _change_ids(faulty_snow)[0]
    store = faulty_snow.servicenow.store
    for n in range(12):
        marker = f"note-{n}"
        note_id = snow.add_work_note(sys_id, text=f"Findings {n}", marker=marker)
        tagged = [
            e
            for e in store.journal(sys_id, ("work_notes", "comments"))
            if f"[cc:{marker}]" in e["value"]
        ]
        assert len(tagged) == 1
        assert note_id == f"{sys_id}/work_notes/{marker}"
        assert snow.find_work_note(sys_id, marker) == note_id
    assert snow.find_work_note(sys_id, "never-written") is None


def test_work_note_whose_answer_is_lost_after_apply(
    snow: ServiceNowAdapter, faulty_snow: Sandbox
) -> None:
    sys_id = _change_ids(faulty_snow)[3]
    faulty_snow.state.faults.rules.insert(
        0, FaultRule("drop", scope="servicenow", nth=1, applied=1)
    )
    with _log() as lines:
        note_id = snow.add_work_note(sys_id, text="Findings", marker="lost-answer")
    entries = faulty_snow.servicenow.store.journal(sys_id, ("work_notes",))
    assert len([e for e in entries if "[cc:lost-answer]" in e["value"]]) == 1
    assert note_id == f"{sys_id}/work_notes/lost-answer"
    assert any("already applied" in line for line in lines)


def test_set_state_skips_what_is_done(snow: ServiceNowAdapter, faulty_snow: Sandbox) -> None:
    sys_id = _change_ids(faulty_snow)[1]
    row = snow.get_change(sys_id)
    assert row is not None
    current = row["state"]["value"]
    assert snow.set_state(sys_id, state=current, fields={}) is False
    target = "-2" if current != "-2" else "-1"
    assert snow.set_state(sys_id, state=target, fields={"on_hold": "false"}) is True
    assert snow.set_state(sys_id, state=target, fields={"on_hold": "false"}) is False


def test_servicenow_fetch_by_number(snow: ServiceNowAdapter, faulty_snow: Sandbox) -> None:
    row = snow.get_change(_change_ids(faulty_snow)[2])
    assert row is not None
    number = row["number"]["value"]
    by_number = snow.get_change_by_number(number)
    assert by_number is not None and by_number["sys_id"] == row["sys_id"]
    raw = snow.fetch(number)
    assert raw.data["sys_id"] == row["sys_id"]
    assert "sysapproval_approver" in raw.related
    assert snow.get_change_by_number("CHG9999999") is None

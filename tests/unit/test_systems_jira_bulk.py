"""Jira Cloud's bulk issue property write: request bodies, task answers, and the notes whose
markers go through it (pending in bulk before their comments, done in bulk after)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from test_systems_jira import API, Sleeps, _text, policy, settings

from connector.core.errors import PermanentError
from connector.systems import jira_bulk, jira_notes
from connector.systems.jira import PROPERTY_KEY, JiraAdapter

TASK = f"{API}/task/42"


def test_bodies_hold_at_most_100_issues_each_with_its_own_values() -> None:
    values = {str(10000 + n): {"k": {"n": n}} for n in range(250)}
    chunks = list(jira_bulk.bodies(values))
    assert [len(ids) for ids, _ in chunks] == [100, 100, 50]
    ids, body = chunks[2]
    assert ids[0] == "10200" and body["issues"][0] == {
        "issueID": 10200,
        "properties": {"k": {"n": 200}},
    }
    assert [i["issueID"] for _, b in chunks for i in b["issues"]] == [10000 + n for n in range(250)]


@pytest.mark.parametrize(
    "values",
    [{"CHG-1": {"k": 1}}, {"10001": {}}, {"10001": {f"k{n}": n for n in range(11)}}],
    ids=["a key, not an id", "no property", "eleven properties"],
)
def test_bodies_refuse_what_the_operation_does_not_take(values: Any) -> None:
    with pytest.raises(ValueError):
        list(jira_bulk.bodies(values))


def test_the_task_path_is_read_from_the_location() -> None:
    assert jira_bulk.task_path("https://x.atlassian.net/rest/api/3/task/10042") == "task/10042"
    assert jira_bulk.task_path("/jira/rest/api/2/task/7/") == "task/7"
    for bad in ("https://x/rest/api/3/issue/1", "https://x/rest/api/3/task/"):
        with pytest.raises(ValueError):
            jira_bulk.task_path(bad)


def _task(status: str, result: Any = None) -> dict[str, Any]:
    return {"id": "42", "self": TASK, "status": status, "result": result}


def test_a_complete_task_confirms_what_its_result_does_not_report_failed() -> None:
    result = {
        "issues": [
            {"issueID": 10001, "status": "SUCCESS"},
            {"issueID": 10002, "status": "FAILED", "errorMessages": ["no permission"]},
            {"issueID": 10009, "status": "SUCCESS"},  # not asked: not counted
        ]
    }
    asked = ["10001", "10002", "10003"]  # 10003 left out of the result, as an unknown id
    assert jira_bulk.confirmed(_task("COMPLETE", result), asked) == {"10001"}
    for status in ("FAILED", "CANCELLED", "DEAD", "RUNNING", "ENQUEUED"):
        assert jira_bulk.confirmed(_task(status, result), asked) == set()
    for other in ("done", ["10001"], {"issues": "10001"}, {"failed": [10002]}):
        assert jira_bulk.confirmed(_task("COMPLETE", other), asked) == set()
    # No result: the task reports no failure, so every issue asked was set.
    for empty in (None, {}, [], ""):
        assert jira_bulk.confirmed(_task("COMPLETE", empty), asked) == set(asked)
        assert jira_bulk.confirmed(_task("FAILED", empty), asked) == set()


def test_a_task_has_ended_in_any_final_status_only() -> None:
    assert [
        s for s in ("ENQUEUED", "RUNNING", "CANCEL_REQUESTED") if jira_bulk.finished(_task(s))
    ] == []
    assert all(jira_bulk.finished(_task(s)) for s in ("COMPLETE", "FAILED", "CANCELLED", "DEAD"))
    assert not jira_bulk.finished(None)


class Site:
    """Issue 10009 (CHG-9) on a mocked Cloud site: its marker property, its comments, and the
    bulk write whose task answers `polls` times that it is running before it ends; issues in
    `refuse` fail in the task's result."""

    def __init__(
        self, mock: responses.RequestsMock, *, polls: int = 0, refuse: set[int] | None = None
    ) -> None:
        self.marks: dict[int, Any] = {}
        self.bulk: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.polls, self.refuse = polls, refuse or set()
        self.pending_at_post: list[Any] = []
        mock.add_callback(responses.POST, f"{API}/issue/properties/multi", callback=self.post_bulk)
        mock.add_callback(responses.GET, TASK, callback=self.task)
        mock.add_callback(responses.POST, f"{API}/issue/10009/comment", callback=self.comment)
        mock.add_callback(
            responses.PUT, f"{API}/issue/10009/properties/{PROPERTY_KEY}", callback=self.put
        )
        self.queued: list[dict[str, Any]] = []

    def post_bulk(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = json.loads(_text(request.body))
        self.bulk.append(body)
        self.queued = body["issues"]
        return 303, {"Location": TASK}, ""

    def task(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        if self.polls:
            self.polls -= 1
            return 200, {}, json.dumps(_task("RUNNING"))
        entries = []
        for item in self.queued:
            ok = item["issueID"] not in self.refuse
            if ok:
                self.marks[item["issueID"]] = item["properties"][PROPERTY_KEY]
            entries.append({"issueID": item["issueID"], "status": "SUCCESS" if ok else "FAILED"})
        return 200, {}, json.dumps(_task("COMPLETE", {"issues": entries}))

    def comment(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.pending_at_post.append(json.loads(json.dumps(self.marks.get(10009))))
        comment = {"id": str(20000 + len(self.comments)), **json.loads(_text(request.body))}
        self.comments.append(comment)
        return 201, {}, json.dumps(comment)

    def put(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.marks[10009] = json.loads(_text(request.body))
        return 200, {}, ""


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{API}/serverInfo", json={"deploymentType": "Cloud", "versionNumbers": [1001]})
        rsps.get(f"{API}/myself", json={"accountId": "a1", "timeZone": "UTC"})
        yield rsps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def jira(
    mock: responses.RequestsMock, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> Iterator[JiraAdapter]:
    # The bulk write's steps on one issue (the worker uses it from BULK_FROM issues on).
    monkeypatch.setattr(jira_notes, "BULK_FROM", 1)
    adapter = JiraAdapter("acme-jira", settings(), policy=policy(sleeps))
    # CHG-9 read with a page: no notes yet
    adapter.notes.cache.seen({"id": "10009", "key": "CHG-9", "fields": {}, "properties": {}})
    yield adapter
    adapter.close()


def test_notes_on_fewer_issues_than_a_bulk_write_pays_for_take_their_own_marker_writes(
    jira: JiraAdapter, mock: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jira_notes, "BULK_FROM", 3)
    jira.notes.cache.seen({"id": "10008", "key": "CHG-8", "fields": {}, "properties": {}})
    site = Site(mock)
    before = len(mock.calls)
    jira.notes.arm([("10009", "m", "f"), ("10008", "m", "f")])  # two issues: no bulk write
    assert len(mock.calls) == before and not site.bulk
    jira.notes.post("10009", body="x", marker="m", fp="f", internal=True)
    assert _methods(mock, before) == [
        f"PUT issue/10009/properties/{PROPERTY_KEY}",
        "POST issue/10009/comment",
        f"PUT issue/10009/properties/{PROPERTY_KEY}",
    ]


def _methods(mock: responses.RequestsMock, since: int) -> list[str]:
    return [
        f"{c.request.method} {c.request.url.split('/rest/api/2/')[1]}" for c in mock.calls[since:]
    ]  # type: ignore[union-attr]


def test_an_armed_note_is_one_post_between_a_bulk_pending_and_a_bulk_done(
    jira: JiraAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    site = Site(mock, polls=2)
    before = len(mock.calls)
    jira.notes.arm([("10009", "m", "f")])
    assert site.marks[10009] == {
        "v": 1,
        "notes": {"m": {"ref": None, "fp": "f", "state": "pending"}},
    }
    assert sleeps == [0.1, 0.2]  # the task polled until it ended, each pause longer
    assert jira.notes.find("10009", "m") is None  # armed: absent before, no read
    ref = jira.notes.post("10009", body="x", marker="m", fp="f", internal=True)
    # the pending marker was written (the task ended) before the comment went out
    assert site.pending_at_post == [
        {"v": 1, "notes": {"m": {"ref": None, "fp": "f", "state": "pending"}}}
    ]
    found = jira.notes.find("10009", "m")
    assert found is not None and (found.ref, found.pending) == (ref, False)
    jira.notes.settle([("10009", "m", "f")])
    assert site.marks[10009] == {"v": 1, "notes": {"m": {"ref": ref, "fp": "f", "state": "done"}}}
    assert _methods(mock, before) == [
        "POST issue/properties/multi",
        *["GET task/42"] * 3,
        "POST issue/10009/comment",
        "POST issue/properties/multi",
        "GET task/42",
    ]
    [pending, done] = site.bulk
    assert pending["issues"][0]["issueID"] == 10009 and done["issues"][0]["issueID"] == 10009


def test_an_issue_the_bulk_write_did_not_confirm_takes_the_three_requests(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    site = Site(mock, refuse={10009})
    jira.notes.arm([("10009", "m", "f")])
    assert 10009 not in site.marks
    before = len(mock.calls)
    ref = jira.notes.post("10009", body="x", marker="m", fp="f", internal=True)
    assert _methods(mock, before) == [
        f"PUT issue/10009/properties/{PROPERTY_KEY}",
        "POST issue/10009/comment",
        f"PUT issue/10009/properties/{PROPERTY_KEY}",
    ]
    assert site.marks[10009]["notes"]["m"] == {"ref": ref, "fp": "f", "state": "done"}
    before = len(mock.calls)
    jira.notes.settle([("10009", "m", "f")])  # nothing armed went out: nothing to settle
    assert len(mock.calls) == before


def test_a_marker_already_there_is_not_armed_and_a_refused_comment_withdraws_its_marker(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    site = Site(mock)
    jira.notes.cache.seen(
        {
            "id": "10009",
            "key": "CHG-9",
            "properties": {
                PROPERTY_KEY: {"v": 1, "notes": {"old": {"ref": "1", "fp": "o", "state": "done"}}}
            },
        }
    )
    jira.notes.arm([("10009", "old", "o"), ("CHG-9", "m", "f")])
    assert list(site.marks[10009]["notes"]) == ["old", "m"]
    mock.post(f"{API}/issue/CHG-9/comment", status=400, json={"errorMessages": ["Bad."]})
    with pytest.raises(PermanentError):
        jira.notes.post("CHG-9", body="x", marker="m", fp="f", internal=True)
    jira.notes.settle([("10009", "m", "f")])
    assert site.marks[10009] == {"v": 1, "notes": {"old": {"ref": "1", "fp": "o", "state": "done"}}}


def test_data_center_has_no_bulk_write(mock: responses.RequestsMock) -> None:
    mock.replace(responses.GET, f"{API}/serverInfo", json={"deploymentType": "Server"})
    adapter = JiraAdapter("dc-jira", settings(), policy=policy(Sleeps()))
    adapter.notes.cache.seen({"id": "10009", "key": "CHG-9", "properties": {}})
    before = len(mock.calls)
    adapter.notes.arm([("10009", "m", "f")])
    adapter.notes.settle([("10009", "m", "f")])
    assert len(mock.calls) == before
    adapter.close()


def test_a_task_that_does_not_end_in_time_confirms_nothing(
    jira: JiraAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    site = Site(mock, polls=10_000)
    jira.notes.arm([("10009", "m", "f")])
    assert 10009 not in site.marks and sum(sleeps) >= 60 and max(sleeps) == 2.0
    before = len(mock.calls)
    jira.notes.post("10009", body="x", marker="m", fp="f", internal=True)
    assert [c.request.method for c in mock.calls[before:]] == ["PUT", "POST", "PUT"]


def test_a_refused_bulk_write_confirms_nothing(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    mock.post(f"{API}/issue/properties/multi", status=400, json={"errorMessages": ["Bad."]})
    assert jira.set_properties_bulk({"10009": {PROPERTY_KEY: {"v": 1}}}) == set()
    assert [c.request.url for c in mock.calls if "/task/" in str(c.request.url)] == []

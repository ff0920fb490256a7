"""Jira adapter over mocked HTTP (`responses`): errors, Retry-After, markers, transitions."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from loguru import logger
from pydantic import SecretStr
from responses import matchers

from connector.core.errors import ConfigError, PermanentError
from connector.settings import SourceSettings
from connector.systems.http import RetryPolicy
from connector.systems.jira import PROPERTY_KEY, JiraAdapter, jql_datetime
from connector.systems.jira_markers import NoteMark

URL = "https://jira.example.test"
API = f"{URL}/rest/api/2"
TOKEN = "s3cret-jira-token-value"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(
            f"{API}/serverInfo",
            json={"deploymentType": "Cloud", "versionNumbers": [1001, 0, 0], "baseUrl": URL},
        )
        rsps.get(f"{API}/myself", json={"accountId": "a1", "timeZone": "Europe/Berlin"})
        yield rsps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def jira(mock: responses.RequestsMock, sleeps: Sleeps) -> Iterator[JiraAdapter]:
    adapter = JiraAdapter("acme-jira", settings(), policy=policy(sleeps))
    yield adapter
    adapter.close()


def settings() -> SourceSettings:
    return SourceSettings(
        kind="jira", url=URL, username="bot@acme.test", token=SecretStr(TOKEN), mapping=Path("m")
    )


def policy(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, rng=random.Random(3), clock=lambda: NOW)


def calls(mock: responses.RequestsMock, method: str, path: str) -> int:
    return sum(1 for c in mock.calls if c.request.method == method and path in str(c.request.url))


def test_construction_reads_deployment_and_user_time_zone(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    assert jira.kind.value.startswith("jira")
    assert jira.user_time_zone == "Europe/Berlin"
    assert [str(c.request.url).split("/")[-1] for c in mock.calls] == ["serverInfo", "myself"]


def test_jql_datetime_is_minute_precision_in_the_user_zone() -> None:
    moment = datetime(2026, 1, 1, 9, 59, 59, tzinfo=UTC)
    assert jql_datetime(moment, "Europe/Berlin") == '"2026-01-01 10:59"'
    assert jql_datetime(moment, ZoneInfo("UTC")) == '"2026-01-01 09:59"'
    with pytest.raises(ValueError):
        jql_datetime(datetime(2026, 1, 1), "UTC")


def test_429_retry_after_seconds_is_honoured(
    jira: JiraAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mock.get(f"{API}/issue/CHG-1", status=429, headers={"Retry-After": "3"}, json={})
    mock.get(f"{API}/issue/CHG-1", json={"key": "CHG-1", "fields": {}})
    assert jira.issue("CHG-1")["key"] == "CHG-1"
    assert sleeps == [3.0]


def test_503_retry_after_http_date_is_honoured(
    jira: JiraAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    when = format_datetime(NOW + timedelta(seconds=20), usegmt=True)
    mock.get(f"{API}/issue/CHG-2", status=503, headers={"Retry-After": when}, json={})
    mock.get(f"{API}/issue/CHG-2", json={"key": "CHG-2", "fields": {}})
    jira.fetch("CHG-2")
    assert len(sleeps) == 1 and sleeps[0] == pytest.approx(20.0)


def test_attempts_are_bounded(
    jira: JiraAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mock.get(f"{API}/issue/CHG-3", status=502, json={"errorMessages": ["Bad gateway."]})
    with pytest.raises(Exception, match="acme-jira: read CHG-3: Jira answered 502: Bad gateway"):
        jira.issue("CHG-3")
    assert calls(mock, "GET", "/issue/CHG-3") == 6
    assert len(sleeps) == 5


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_permanent_statuses(jira: JiraAdapter, mock: responses.RequestsMock, status: int) -> None:
    mock.get(f"{API}/issue/CHG-4", status=status, json={"errorMessages": ["nope"]})
    with pytest.raises(PermanentError, match=f"acme-jira: read CHG-4: Jira answered {status}"):
        jira.issue("CHG-4")
    assert calls(mock, "GET", "/issue/CHG-4") == 1


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_refused_is_config_error_without_the_token(
    jira: JiraAdapter, mock: responses.RequestsMock, status: int
) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    mock.get(f"{API}/issue/CHG-5", status=status, json={"errorMessages": ["Unauthorized"]})
    try:
        with pytest.raises(ConfigError) as info:
            jira.issue("CHG-5")
    finally:
        logger.remove(sink)
    message = str(info.value)
    assert message.startswith("acme-jira: ") and "credentials" in message
    assert TOKEN not in message and TOKEN not in repr(info.value.args)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not any(TOKEN in line for line in lines)


def test_401_at_construction(mock: responses.RequestsMock) -> None:
    mock.replace(responses.GET, f"{API}/serverInfo", status=401, json={})
    with pytest.raises(ConfigError) as info:
        JiraAdapter("acme-jira", settings(), policy=policy(Sleeps()))
    assert TOKEN not in str(info.value)


def _text(body: object) -> str:
    return body.decode() if isinstance(body, bytes) else str(body or "{}")


class FakeComments:
    """A comment list on one issue; a POST may apply and then lose its answer."""

    def __init__(self, mock: responses.RequestsMock, key: str, *, drop_first: bool) -> None:
        self.comments: list[dict[str, Any]] = []
        self.posts = 0
        self.drop_first = drop_first
        mock.add_callback(responses.POST, f"{API}/issue/{key}/comment", callback=self.post)
        mock.add_callback(responses.GET, f"{API}/issue/{key}/comment", callback=self.list)
        mock.add_callback(responses.POST, f"{API}/comment/list", callback=self.by_ids)

    def post(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.posts += 1
        body = json.loads(_text(request.body))
        comment = {"id": str(10000 + len(self.comments)), **body}
        self.comments.append(comment)
        if self.drop_first and self.posts == 1:
            raise requests.exceptions.ChunkedEncodingError("connection broken after apply")
        return 201, {}, json.dumps(comment)

    def list(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        assert "expand" not in str(request.url)  # documented for renderedBody only
        shown = [{k: v for k, v in c.items() if k != "properties"} for c in self.comments]
        page = {"comments": shown, "startAt": 0, "total": len(self.comments)}
        return 200, {}, json.dumps(page)

    def by_ids(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        assert "expand=properties" in str(request.url)
        wanted = set(json.loads(_text(request.body))["ids"])
        values = [c for c in self.comments if int(c["id"]) in wanted]
        return 200, {}, json.dumps({"isLast": True, "total": len(values), "values": values})


def test_create_whose_answer_is_lost_is_not_repeated(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    store = FakeComments(mock, "CHG-6", drop_first=True)
    comment_id = jira.post_comment("CHG-6", body="h3. Findings", marker="abc123")
    assert store.posts == 1 and len(store.comments) == 1
    assert comment_id == store.comments[0]["id"]
    assert store.comments[0]["properties"] == [{"key": PROPERTY_KEY, "value": {"marker": "abc123"}}]
    assert jira.find_comment("CHG-6", "abc123") == comment_id
    assert jira.find_comment("CHG-6", "other") is None


def test_create_refused_with_503_is_checked_then_written_once(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    mock.post(f"{API}/issue/CHG-7/comment", status=503, json={})
    store = FakeComments(mock, "CHG-7", drop_first=False)
    jira.post_comment("CHG-7", body="x", marker="m7", internal=True)
    assert calls(mock, "GET", "/issue/CHG-7/comment") == 1  # already_done asked once
    assert len(store.comments) == 1
    assert {"key": "sd.public.comment", "value": {"internal": True}} in store.comments[0][
        "properties"
    ]


def _issue_with_transitions(mock: responses.RequestsMock, key: str, status: str) -> None:
    transitions = [
        {"id": "51", "name": "Schedule", "to": {"name": "Scheduled"}},
        {"id": "91", "name": "Cancel", "to": {"name": "Canceled"}},
    ]
    mock.get(
        f"{API}/issue/{key}",
        match=[matchers.query_param_matcher({"fields": "status", "expand": "transitions"})],
        json={"key": key, "fields": {"status": {"name": status}}, "transitions": transitions},
    )


def test_transition_by_name(jira: JiraAdapter, mock: responses.RequestsMock) -> None:
    _issue_with_transitions(mock, "CHG-8", "Approved")
    mock.post(
        f"{API}/issue/CHG-8/transitions",
        status=204,
        match=[matchers.json_params_matcher({"transition": {"id": "51"}, "fields": {}})],
    )
    assert jira.transition("CHG-8", name="Schedule", fields={}) is True
    assert calls(mock, "POST", "/transitions") == 1


def test_transition_to_current_status_is_a_no_op(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    _issue_with_transitions(mock, "CHG-9", "Approved")
    assert jira.transition("CHG-9", name="Approve", fields={}, target_status="Approved") is False
    assert calls(mock, "POST", "/transitions") == 0


def test_unavailable_transition_is_permanent(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    _issue_with_transitions(mock, "CHG-10", "Approved")
    with pytest.raises(PermanentError) as info:
        jira.transition("CHG-10", name="Close", fields={})
    assert str(info.value) == (
        "acme-jira: CHG-10: transition 'Close' is not available from status 'Approved' "
        "(available: Cancel, Schedule)"
    )


def test_properties_and_labels(jira: JiraAdapter, mock: responses.RequestsMock) -> None:
    prop = f"{API}/issue/CHG-11/properties/cc-sync"
    mock.get(prop, status=404, json={"errorMessages": ["no such property"]})
    assert jira.get_property("CHG-11", "cc-sync") is None
    mock.put(prop, status=201, match=[matchers.json_params_matcher({"v": 1})])
    jira.set_property("CHG-11", "cc-sync", {"v": 1})
    mock.replace(responses.GET, prop, json={"key": "cc-sync", "value": {"v": 1}})
    assert jira.get_property("CHG-11", "cc-sync") == {"v": 1}
    mock.put(
        f"{API}/issue/CHG-11",
        status=204,
        match=[matchers.json_params_matcher({"update": {"labels": [{"add": "cc-checked"}]}})],
    )
    jira.add_label("CHG-11", "cc-checked")


class FakeIssue:
    """One issue taking issue edits (a comment edited in place + the marker property in one
    PUT) and answering its marker property."""

    def __init__(self, mock: responses.RequestsMock, key: str) -> None:
        self.edits: list[dict[str, Any]] = []
        self.comments: list[dict[str, Any]] = []
        self.marks: Any = None
        mock.add_callback(responses.PUT, f"{API}/issue/{key}", callback=self.edit)
        mock.add_callback(
            responses.GET, f"{API}/issue/{key}/properties/{PROPERTY_KEY}", callback=self.prop
        )

    def edit(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = json.loads(_text(request.body))
        self.edits.append(body)
        for op in body["update"]["comment"]:
            assert set(op) == {"edit"}  # a note is never added through an edit
            [found] = [c for c in self.comments if c["id"] == op["edit"]["id"]]
            found["body"] = op["edit"]["body"]
        [(key, value)] = [(p["key"], p["value"]) for p in body["properties"]]
        assert key == PROPERTY_KEY
        self.marks = value
        return 204, {}, ""

    def prop(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        if self.marks is None:
            return 404, {}, json.dumps({"errorMessages": ["no such property"]})
        return 200, {}, json.dumps({"key": PROPERTY_KEY, "value": self.marks})


def test_a_public_note_is_posted_on_the_comment_resource_between_its_markers(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    """Jira documents a comment's properties on the comment resource only (an edit's
    `update.comment[].add` documents none): a note is never added through an issue edit."""
    issue = FakeIssue(mock, "CHG-9")
    store = FakeComments(mock, "CHG-9", drop_first=False)
    mock.add(responses.PUT, f"{API}/issue/CHG-9/properties/{PROPERTY_KEY}", status=200)
    ref = jira.notes.post("CHG-9", body="h3. Findings", marker="m", fp="f", internal=False)
    assert issue.edits == [] and store.posts == 1 and ref == store.comments[0]["id"]
    assert store.comments[0]["properties"] == [{"key": PROPERTY_KEY, "value": {"marker": "m"}}]
    notes = [
        json.loads(_text(c.request.body))["notes"]["m"]
        for c in mock.calls
        if c.request.method == "PUT" and "/properties/" in str(c.request.url)
    ]
    assert notes == [
        {"ref": None, "fp": "f", "state": "pending"},
        {"ref": ref, "fp": "f", "state": "done"},
    ]


def test_an_internal_note_is_posted_on_the_comment_resource_with_its_flag(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    """JSM's internal flag is a comment property, documented on the comment resource only: the
    note is marked pending, posted there with the flag, then marked done with its id."""
    issue = FakeIssue(mock, "CHG-9")
    store = FakeComments(mock, "CHG-9", drop_first=False)
    mock.add(responses.PUT, f"{API}/issue/CHG-9/properties/{PROPERTY_KEY}", status=200)
    ref = jira.notes.post("CHG-9", body="h3. Findings", marker="m", fp="f", internal=True)
    assert issue.edits == [] and store.posts == 1
    assert {"key": "sd.public.comment", "value": {"internal": True}} in store.comments[0][
        "properties"
    ]
    assert ref == store.comments[0]["id"]
    states = [
        json.loads(_text(c.request.body))["notes"]["m"]["state"]
        for c in mock.calls
        if c.request.method == "PUT" and "/properties/" in str(c.request.url)
    ]
    assert states == ["pending", "done"]


def test_a_note_edited_in_place_is_one_edit_carrying_its_new_fingerprint(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    issue = FakeIssue(mock, "CHG-9")
    issue.comments.append({"id": "10000", "body": "v1"})
    jira.notes.cache.put("CHG-9", {"m": NoteMark("10000", "f1", "done")})
    jira.notes.edit("CHG-9", "10000", body="v2", marker="m", fp="f2")
    assert [c["body"] for c in issue.comments] == ["v2"]
    assert issue.marks == {"v": 1, "notes": {"m": {"ref": "10000", "fp": "f2", "state": "done"}}}
    assert len(issue.edits) == 1
    assert calls(mock, "PUT", "/comment/") + calls(mock, "PUT", "/properties/") == 0


def test_a_refused_note_leaves_no_marker(jira: JiraAdapter, mock: responses.RequestsMock) -> None:
    puts: list[Any] = []

    def put(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        puts.append(json.loads(_text(request.body)))
        return 200, {}, ""

    mock.get(f"{API}/issue/CHG-9/properties/{PROPERTY_KEY}", status=404, json={})
    mock.put(f"{API}/issue/CHG-9", status=400, json={"errorMessages": ["Bad body."]})
    mock.add_callback(responses.PUT, f"{API}/issue/CHG-9/properties/{PROPERTY_KEY}", callback=put)
    mock.post(f"{API}/issue/CHG-9/comment", status=400, json={"errorMessages": ["Bad body."]})
    with pytest.raises(PermanentError, match="Bad body"):
        jira.notes.post("CHG-9", body="x", marker="m", fp="f", internal=False)
    # the comment was refused: its pending marker is withdrawn
    assert [p["notes"] for p in puts] == [{"m": {"ref": None, "fp": "f", "state": "pending"}}, {}]
    assert jira.notes.find("CHG-9", "m") is None  # from the cache: no call, no marker
    assert calls(mock, "GET", f"/issue/CHG-9/properties/{PROPERTY_KEY}") == 1


def test_writes_are_checked_against_the_page_and_carry_comment_ids_learned_since(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    marks = {"v": 1, "notes": {"m": {"ref": None, "fp": "f", "state": "done"}}}
    jira.notes.cache.seen(
        {
            "id": "10009",
            "key": "CHG-9",
            "fields": {"status": {"name": "Approved"}, "labels": ["cc-checked"]},
            "transitions": [{"id": "51", "name": "Schedule", "to": {"name": "Scheduled"}}],
            "properties": {PROPERTY_KEY: marks},
        }
    )
    jira.notes.cache.put("CHG-9", {"m": NoteMark("10100", "f", "done")}, unsaved=True)
    saved = {"v": 1, "notes": {"m": {"ref": "10100", "fp": "f", "state": "done"}}}
    before = len(mock.calls)
    mock.post(
        f"{API}/issue/CHG-9/transitions",
        status=204,
        match=[
            matchers.json_params_matcher(
                {
                    "transition": {"id": "51"},
                    "fields": {},
                    "properties": [{"key": PROPERTY_KEY, "value": saved}],
                }
            )
        ],
    )
    assert jira.set_label("CHG-9", "cc-checked", present=True) is False
    assert jira.status("CHG-9") == "Approved"
    assert jira.transition("CHG-9", name="Schedule", fields={}) is True
    assert jira.notes.unsaved("CHG-9") is None  # the transition carried them
    assert jira.status("CHG-9") == "Scheduled"
    assert [c.request.method for c in mock.calls][before:] == ["POST"]  # no read before it


def _page_issue(issue_id: str, key: str, status: str, offered: list[dict[str, Any]]) -> Any:
    return {
        "id": issue_id,
        "key": key,
        "fields": {
            "status": {"name": status},
            "project": {"key": "CHG"},
            "issuetype": {"name": "Change"},
        },
        "transitions": offered,
        "properties": {},
    }


def test_a_next_step_takes_the_transitions_its_workflow_offered_in_that_status(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    schedule = {"id": "51", "name": "Schedule", "to": {"name": "Scheduled"}}
    implement = {"id": "61", "name": "Implement", "to": {"name": "Implement"}}
    jira.notes.cache.seen(_page_issue("10001", "CHG-1", "Approved", [schedule]))
    jira.notes.cache.seen(_page_issue("10002", "CHG-2", "Scheduled", [implement]))
    before = len(mock.calls)
    mock.post(f"{API}/issue/CHG-1/transitions", status=204)
    assert jira.transition("CHG-1", name="Schedule", fields={}) is True
    assert jira.transition("CHG-1", name="Implement", fields={}) is True  # as CHG-2 offered
    assert [c.request.method for c in mock.calls][before:] == ["POST", "POST"]
    assert jira.status("CHG-1") == "Implement"


def test_a_learned_transition_refused_on_the_issue_is_read_there_and_tried_once_more(
    jira: JiraAdapter, mock: responses.RequestsMock
) -> None:
    jira.notes.cache.seen(
        _page_issue("10002", "CHG-2", "Scheduled", [{"id": "61", "name": "Implement"}])
    )
    jira.notes.cache.seen(_page_issue("10001", "CHG-1", "Approved", []))
    jira.notes.cache.moved("CHG-1", "Scheduled")
    mock.post(
        f"{API}/issue/CHG-1/transitions",
        status=400,
        json={"errorMessages": ["Transition id '61' is not valid for this issue."]},
        match=[matchers.json_params_matcher({"transition": {"id": "61"}, "fields": {}})],
    )
    mock.get(
        f"{API}/issue/CHG-1",
        json={
            "id": "10001",
            "key": "CHG-1",
            "fields": {"status": {"name": "Scheduled"}},
            "transitions": [{"id": "71", "name": "Implement", "to": {"name": "Implement"}}],
        },
    )
    mock.post(
        f"{API}/issue/CHG-1/transitions",
        status=204,
        match=[matchers.json_params_matcher({"transition": {"id": "71"}, "fields": {}})],
    )
    assert jira.transition("CHG-1", name="Implement", fields={}) is True
    assert calls(mock, "POST", "/issue/CHG-1/transitions") == 2
    assert calls(mock, "GET", "/issue/CHG-1") == 1

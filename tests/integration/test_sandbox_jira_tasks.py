"""Jira Cloud's bulk issue property write in the simulator: the body it takes, the 303 to its
task, the task run asynchronously (nothing written before it ends), per-issue failures in the
task's result, who may read the task, and its absence on Data Center."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sync_helpers import request_log, reset_log, running_sandbox

from connector.sandbox import Sandbox, SandboxInfo

KEY = "change-connector"


def _call(
    info: SandboxInfo, method: str, path: str, *, user: str = "connector", **kw: Any
) -> requests.Response:
    return requests.request(
        method,
        f"{info.jira_url}/rest/api/3{path}" if path.startswith("/") else path,
        auth=info.credentials(user),
        verify=info.ca_bundle,
        timeout=10,
        allow_redirects=False,
        **kw,
    )


@pytest.fixture
def slow_tasks(tmp_path: Path) -> Iterator[Sandbox]:
    """A Cloud site whose tasks answer twice that they have not ended before they run."""
    with running_sandbox(tmp_path, seed_count=5, jira_task_polls=2) as box:
        yield box


def _ids(sandbox: Sandbox) -> list[int]:
    return list(sandbox.jira.store.issues)


def test_the_bulk_write_runs_as_a_task_and_reports_each_issue(slow_tasks: Sandbox) -> None:
    info = slow_tasks.info
    a, b = _ids(slow_tasks)[:2]
    body = {
        "issues": [
            {"issueID": a, "properties": {KEY: {"n": 1}, "other": [1, 2]}},
            {"issueID": b, "properties": {KEY: {"n": 2}}},
            {"issueID": 99999, "properties": {KEY: {"n": 3}}},  # no such issue
        ]
    }
    reset_log(info)
    posted = _call(info, "POST", "/issue/properties/multi", json=body)
    assert posted.status_code == 303 and posted.content == b""
    location = posted.headers["Location"]
    assert location.startswith(f"{info.jira_url}/rest/api/3/task/")
    store = slow_tasks.jira.store
    assert KEY not in store.issues[a].properties  # asynchronous: nothing written yet
    statuses = []
    for _ in range(3):
        task = _call(info, "GET", location).json()
        statuses.append(task["status"])
        if task["status"] != "COMPLETE":
            assert KEY not in store.issues[a].properties and "result" not in task
    assert statuses == ["ENQUEUED", "RUNNING", "COMPLETE"]
    assert task["progress"] == 100 and task["finished"] >= task["started"] >= task["submitted"]
    assert {"self", "id", "elapsedRuntime", "lastUpdate", "submittedBy"} <= set(task)
    assert task["result"]["issues"] == [
        {"issueID": a, "status": "SUCCESS"},
        {"issueID": b, "status": "SUCCESS"},
        {
            "issueID": 99999,
            "status": "FAILED",
            "errorMessages": ["Issue does not exist or you do not have permission to see it."],
        },
    ]
    assert store.issues[a].properties == {KEY: {"n": 1}, "other": [1, 2]}
    assert store.issues[b].properties[KEY] == {"n": 2}
    again = _call(info, "GET", location).json()
    assert again["status"] == "COMPLETE" and again["result"] == task["result"]
    paths = [(r["method"], r["path"]) for r in request_log(info) if r["system"] == "jira"]
    assert paths[0] == ("POST", "/jira/rest/api/3/issue/properties/multi")
    assert len([p for p in paths if "/task/" in p[1]]) == 4  # every poll is in the log


def test_only_its_creator_or_an_administrator_reads_a_task(slow_tasks: Sandbox) -> None:
    info = slow_tasks.info
    [a] = _ids(slow_tasks)[:1]
    body = {"issues": [{"issueID": a, "properties": {KEY: {"n": 1}}}]}
    location = _call(info, "POST", "/issue/properties/multi", json=body).headers["Location"]
    assert _call(info, "GET", location, user="alice").status_code == 403
    assert _call(info, "GET", location, user="admin").status_code == 200
    assert _call(info, "GET", "/task/1").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"issues": []},
        {"issues": [{"issueID": 10001, "properties": {KEY: 1}}], "extra": 1},
        {"issues": [{"issueID": "10001", "properties": {KEY: 1}}]},
        {"issues": [{"issueID": 10001, "properties": {}}]},
        {"issues": [{"issueID": 10001, "properties": {KEY: 1}, "other": 1}]},
        {"issues": [{"issueID": 10001, "properties": {f"k{n}": n for n in range(11)}}]},
        {"issues": [{"issueID": 10001, "properties": {KEY: "y" * 40_000}}]},
        {"issues": [{"issueID": 10001 + n, "properties": {KEY: n}} for n in range(101)]},
    ],
    ids=[
        "no body",
        "not an object",
        "no issues",
        "another field",
        "id as a string",
        "no property",
        "another issue field",
        "eleven properties",
        "value over 32768 bytes",
        "101 issues",
    ],
)
def test_a_malformed_bulk_write_is_refused_whole(sandbox: Sandbox, body: Any) -> None:
    info = sandbox.info
    before = {i: dict(issue.properties) for i, issue in sandbox.jira.store.issues.items()}
    tasks = len(sandbox.jira.tasks.by_id)
    answer = _call(info, "POST", "/issue/properties/multi", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorMessages"]
    assert len(sandbox.jira.tasks.by_id) == tasks
    assert {i: dict(issue.properties) for i, issue in sandbox.jira.store.issues.items()} == before


def test_data_center_has_neither_the_bulk_write_nor_the_task(sandbox_datacenter: Sandbox) -> None:
    info = sandbox_datacenter.info
    [a] = list(sandbox_datacenter.jira.store.issues)[:1]
    body = {"issues": [{"issueID": a, "properties": {KEY: {"n": 1}}}]}
    url = f"{info.jira_url}/rest/api/2/issue/properties/multi"
    answer = requests.post(
        url, json=body, auth=info.credentials("connector"), verify=info.ca_bundle, timeout=10
    )
    assert answer.status_code in (404, 405)
    task = requests.get(
        f"{info.jira_url}/rest/api/2/task/10000",
        auth=info.credentials("connector"),
        verify=info.ca_bundle,
        timeout=10,
    )
    assert task.status_code == 404

"""Jira search paging over mocked HTTP (`responses`): pages the sandbox does not send.

Cloud pages without `isLast`, or with `isLast: true` beside a token; Data Center pages shorter
than asked while `total` says more, pages without `total` / `maxResults`, an empty last page;
servers that would loop. No ticket may be lost and no loop may run forever.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from pydantic import SecretStr
from responses import matchers

from connector.core.errors import PermanentError
from connector.settings import SourceSettings
from connector.systems.http import RetryPolicy
from connector.systems.jira import JiraAdapter

URL = "https://jira.example.test"
API = f"{URL}/rest/api/2"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
JQL = "project = CHG"


def _adapter(deployment: str, mock: responses.RequestsMock) -> JiraAdapter:
    mock.get(
        f"{API}/serverInfo",
        json={"deploymentType": deployment, "versionNumbers": [9, 12, 0], "baseUrl": URL},
    )
    mock.get(f"{API}/myself", json={"name": "bot", "timeZone": "UTC"})
    # No `/field`: a search is one call (the client's own search read the field list first).
    settings = SourceSettings(
        kind="jira", url=URL, username="bot", token=SecretStr("t0ken"), mapping=Path("m"),
        page_size=50,
    )  # fmt: skip
    policy = RetryPolicy(sleep=lambda _: None, rng=random.Random(1), clock=lambda: NOW)
    return JiraAdapter("acme-jira", settings, policy=policy)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def _issues(first: int, count: int) -> list[dict[str, Any]]:
    return [{"id": str(10000 + n), "key": f"CHG-{n}"} for n in range(first, first + count)]


def _keys(issues: Iterator[dict[str, Any]]) -> list[str]:
    return [i["key"] for i in issues]


# -- Cloud /search/jql -----------------------------------------------------------------------


def _cloud_page(mock: responses.RequestsMock, token: str | None, body: dict[str, Any]) -> None:
    params = {
        "jql": JQL,
        "fields": "*all",
        "maxResults": "50",
        "properties": "change-connector",
        "expand": "transitions",  # what each issue offers, for the checks before a transition
    }
    if token:
        params["nextPageToken"] = token
    # Strict: the first page's request must not carry a token, each next one exactly its own.
    mock.get(f"{API}/search/jql", json=body, match=[matchers.query_param_matcher(params)])


def test_cloud_pages_without_is_last_end_only_when_the_token_is_absent(
    mock: responses.RequestsMock,
) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 50), "nextPageToken": "p2"})
    _cloud_page(mock, "p2", {"issues": _issues(50, 7), "nextPageToken": "p3"})  # short page
    _cloud_page(mock, "p3", {"issues": _issues(57, 2)})  # no token, no isLast: the end
    assert _keys(jira.search(JQL)) == [f"CHG-{n}" for n in range(59)]
    jira.close()


def test_cloud_is_last_true_beside_a_token_does_not_end_the_search(
    mock: responses.RequestsMock,
) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 3), "nextPageToken": "p2", "isLast": True})
    _cloud_page(mock, "p2", {"issues": _issues(3, 1), "nextPageToken": None, "isLast": True})
    assert _keys(jira.search(JQL)) == ["CHG-0", "CHG-1", "CHG-2", "CHG-3"]
    jira.close()


def test_cloud_empty_last_page(mock: responses.RequestsMock) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 2), "nextPageToken": "p2", "isLast": False})
    _cloud_page(mock, "p2", {"issues": [], "isLast": True})
    assert _keys(jira.search(JQL)) == ["CHG-0", "CHG-1"]
    jira.close()


def test_cloud_repeated_token_is_an_error_not_a_loop(mock: responses.RequestsMock) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 2), "nextPageToken": "p2"})
    _cloud_page(mock, "p2", {"issues": _issues(2, 2), "nextPageToken": "p2"})
    seen: list[str] = []
    with pytest.raises(PermanentError, match="repeated page token"):
        for issue in jira.search(JQL):
            seen.append(issue["key"])
    assert seen == ["CHG-0", "CHG-1", "CHG-2", "CHG-3"]
    jira.close()


# -- Data Center /search ---------------------------------------------------------------------


def _dc_page(mock: responses.RequestsMock, start: int, body: dict[str, Any]) -> None:
    mock.get(
        f"{API}/search",
        json=body,
        match=[
            matchers.query_param_matcher(
                {"jql": JQL, "startAt": str(start), "maxResults": "50"}, strict_match=False
            )
        ],
    )


def test_datacenter_short_pages_continue_until_total(mock: responses.RequestsMock) -> None:
    """The server's maximum is 20 (an admin lowered it) although 50 were asked."""
    jira = _adapter("Server", mock)
    for start, count in ((0, 20), (20, 20), (40, 5)):
        body = {"startAt": start, "maxResults": 20, "total": 45, "issues": _issues(start, count)}
        _dc_page(mock, start, body)
    # 45 >= total after the third page: no fourth request (every mocked page is asked once).
    assert _keys(jira.search(JQL)) == [f"CHG-{n}" for n in range(45)]
    jira.close()


def test_datacenter_pages_without_total_or_max_results_end_on_an_empty_page(
    mock: responses.RequestsMock,
) -> None:
    jira = _adapter("Server", mock)
    _dc_page(mock, 0, {"issues": _issues(0, 30)})
    _dc_page(mock, 30, {"issues": _issues(30, 4)})
    _dc_page(mock, 34, {"issues": []})
    assert _keys(jira.search(JQL)) == [f"CHG-{n}" for n in range(34)]
    jira.close()


def test_datacenter_empty_page_ends_even_if_total_says_more(
    mock: responses.RequestsMock,
) -> None:
    """Issues deleted while paging: total was 12 at the start, the second page is empty."""
    jira = _adapter("Server", mock)
    _dc_page(mock, 0, {"startAt": 0, "maxResults": 10, "total": 12, "issues": _issues(0, 10)})
    _dc_page(mock, 10, {"startAt": 10, "maxResults": 10, "total": 12, "issues": []})
    assert len(list(jira.search(JQL))) == 10
    jira.close()


def test_datacenter_page_that_ignores_start_at_is_an_error_not_a_loop(
    mock: responses.RequestsMock,
) -> None:
    jira = _adapter("Server", mock)
    _dc_page(mock, 0, {"startAt": 0, "issues": _issues(0, 5)})
    _dc_page(mock, 5, {"startAt": 0, "issues": _issues(0, 5)})
    with pytest.raises(PermanentError, match="startAt=0 when asked for startAt=5"):
        list(jira.search(JQL))
    jira.close()


def test_datacenter_server_that_ignores_start_at_without_echo_is_an_error_not_a_loop(
    mock: responses.RequestsMock,
) -> None:
    """No startAt, no total in the answer, the same page whatever is asked."""
    jira = _adapter("Server", mock)
    _dc_page(mock, 0, {"issues": _issues(0, 5)})
    _dc_page(mock, 5, {"issues": _issues(0, 5)})
    with pytest.raises(PermanentError, match="again: the paging makes no progress"):
        list(jira.search(JQL))
    jira.close()


def test_cloud_server_that_sends_the_same_page_with_new_tokens_is_an_error(
    mock: responses.RequestsMock,
) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 3), "nextPageToken": "p2"})
    _cloud_page(mock, "p2", {"issues": _issues(0, 3), "nextPageToken": "p3"})
    with pytest.raises(PermanentError, match="no progress"):
        list(jira.search(JQL))
    jira.close()


def test_paging_errors_name_the_source_and_the_call(mock: responses.RequestsMock) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 1), "nextPageToken": "p2"})
    _cloud_page(mock, "p2", {"issues": _issues(1, 1), "nextPageToken": "p2"})
    with pytest.raises(PermanentError) as raised:
        list(jira.search(JQL))
    assert str(raised.value) == "acme-jira: search issues: the server repeated page token p2..."
    jira.close()


def test_cloud_is_last_false_without_a_token_ends_there_is_nothing_to_follow(
    mock: responses.RequestsMock,
) -> None:
    jira = _adapter("Cloud", mock)
    _cloud_page(mock, None, {"issues": _issues(0, 2), "isLast": False})
    assert _keys(jira.search(JQL)) == ["CHG-0", "CHG-1"]
    jira.close()


# -- what a search keeps for the checks before writes -----------------------------------------


@pytest.mark.parametrize("mode", ["enforce", "observe"])
def test_a_search_keeps_each_issue_for_the_checks_before_writes_unless_observing(
    mock: responses.RequestsMock, mode: str
) -> None:
    jira = _adapter("Cloud", mock)
    jira.settings = jira.settings.model_copy(update={"mode": mode})
    issues = [
        {**issue, "fields": {"status": {"name": "Approved"}, "labels": ["cc"]}}
        for issue in _issues(0, 3)
    ]
    mock.get(f"{API}/search/jql", json={"issues": issues})
    assert _keys(jira.search(JQL)) == ["CHG-0", "CHG-1", "CHG-2"]
    kept = [jira.notes.cache.state(f"CHG-{n}") for n in range(3)]
    if mode == "observe":  # no write follows: nothing is kept, whatever the site's size
        assert kept == [None, None, None]
    else:
        assert [(s.status, s.labels) for s in kept if s] == [("Approved", ("cc",))] * 3
    jira.close()

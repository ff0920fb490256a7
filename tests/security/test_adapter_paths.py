"""The adapters quote every key they put into a URL and refuse what would add a condition to a
ServiceNow encoded query, even for a key that got past the intake (an old inbox row, a caller
that skipped the check). Over mocked HTTP (`responses`): the raw URL the client sends is what
matters here, and the sandbox's request log shows paths decoded."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import responses
from pydantic import SecretStr

from connector.core.errors import ConnectorError
from connector.settings import SourceSettings
from connector.systems.http import RetryPolicy
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter

JIRA_URL = "https://jira.example.test"
SNOW_URL = "https://acme.service-now.test"
HOSTILE = "CHG-1/../../myself"


def _policy() -> RetryPolicy:
    return RetryPolicy(attempts=1, sleep=lambda _s: None, rng=random.Random(1))


@pytest.fixture(name="mock")
def fixture_mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(
            f"{JIRA_URL}/rest/api/2/serverInfo",
            json={"deploymentType": "Cloud", "versionNumbers": [1001, 0, 0], "baseUrl": JIRA_URL},
        )
        rsps.get(f"{JIRA_URL}/rest/api/2/myself", json={"accountId": "a", "timeZone": "UTC"})
        yield rsps


def _raw_paths(mock: responses.RequestsMock, start: int) -> list[str]:
    return [urlsplit(call.request.url or "").path for call in mock.calls[start:]]


def test_jira_key_stays_one_path_segment(mock: responses.RequestsMock) -> None:
    source = SourceSettings(
        kind="jira", url=JIRA_URL, username="bot", token=SecretStr("t"), mapping=Path("m")
    )
    adapter = JiraAdapter("acme-jira", source, policy=_policy())
    try:
        start = len(mock.calls)
        calls = (
            lambda: adapter.issue(HOSTILE),
            lambda: adapter.post_comment(HOSTILE, body="x", marker="m"),
            lambda: adapter.transition(HOSTILE, name="Approve"),
            lambda: adapter.set_property(HOSTILE, "change-connector", {}),
            lambda: adapter.labels(HOSTILE),
        )
        for call in calls:
            with pytest.raises(ConnectorError):
                call()  # nothing is mocked there: refused by responses
    finally:
        adapter.close()
    paths = _raw_paths(mock, start)
    assert paths, "no request was made"
    for path in paths:
        assert path.startswith("/rest/api/2/issue/CHG-1%2F..%2F..%2Fmyself"), path
        assert unquote(path.split("/issue/", 1)[1].split("/", 1)[0]) == HOSTILE


def test_servicenow_values_cannot_add_conditions(mock: responses.RequestsMock) -> None:
    source = SourceSettings(
        kind="servicenow", url=SNOW_URL, username="bot", token=SecretStr("t"), mapping=Path("m")
    )
    adapter = ServiceNowAdapter("acme-snow", source, policy=_policy())
    try:
        start = len(mock.calls)
        for call in (
            lambda: adapter.fetch("CHG0030001^ORnumberISNOTEMPTY"),
            lambda: adapter.fetch("CHG0030001^NQactive=true"),
            lambda: adapter.get_change_by_number("CHG0030001^ORDERBYnumber"),
            lambda: adapter.get_change("a" * 31 + "^"),
        ):
            with pytest.raises(ConnectorError):
                call()
        assert mock.calls[start:] == []  # refused before any request
        with pytest.raises(ConnectorError):
            adapter.set_state("a/../../sys_user", state="-2")
        with pytest.raises(ConnectorError):
            adapter.find_work_note("a/../../sys_user", "m")
    finally:
        adapter.close()
    paths = _raw_paths(mock, start)
    assert "/api/now/table/change_request/a%2F..%2F..%2Fsys_user" in paths
    own = {"/api/now/table/change_request", "/api/now/table/change_request/a%2F..%2F..%2Fsys_user"}
    assert set(paths) <= own

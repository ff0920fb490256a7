"""The Jira simulator through the unmodified `jira` client over HTTPS, in both modes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from connector.sandbox import Sandbox, SandboxInfo


def _client(info: SandboxInfo, login: str = "connector", token: str | None = None) -> JIRA:
    user, secret = info.credentials(login)
    return JIRA(
        server=info.jira_url,
        basic_auth=(user, token or secret),
        options={"verify": info.ca_bundle},
        max_retries=0,
        timeout=10,
    )


@pytest.fixture(scope="module")
def cloud(sandbox: Sandbox) -> Iterator[JIRA]:
    client = _client(sandbox.info)
    yield client
    client.close()


@pytest.fixture(scope="module")
def dc(sandbox_datacenter: Sandbox) -> Iterator[JIRA]:
    client = _client(sandbox_datacenter.info)
    yield client
    client.close()


def _get(info: SandboxInfo, path: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{info.jira_url}{path}",
        params=params,
        timeout=10,
        auth=info.credentials("connector"),
        verify=info.ca_bundle,
    )


def test_client_detects_each_deployment(cloud: JIRA, dc: JIRA) -> None:
    assert cloud.server_info()["deploymentType"] == "Cloud"
    assert dc.server_info()["deploymentType"] == "Server"
    assert "accountId" in cloud.myself() and "name" in dc.myself()


def test_cloud_enhanced_search_pages_through_every_issue(cloud: JIRA) -> None:
    issues = cloud.enhanced_search_issues(
        "project in (CHG, OPS) ORDER BY key ASC", maxResults=False, fields="summary,updated"
    )
    assert len(issues) == 200
    assert len({i.key for i in issues}) == 200
    page = cloud.enhanced_search_issues("project in (CHG, OPS)", maxResults=30, json_result=True)
    assert len(page["issues"]) == 30 and page["isLast"] is False and "total" not in page


def test_dc_search_pages_with_totals(dc: JIRA) -> None:
    issues = dc.search_issues("project in (CHG, OPS) ORDER BY key ASC", maxResults=False)
    assert len({i.key for i in issues}) == 200
    page = dc.search_issues("project = CHG", startAt=10, maxResults=5, json_result=True)
    assert page["startAt"] == 10 and len(page["issues"]) == 5 and page["total"] < 200


def test_search_jql_returns_ids_only_without_fields(sandbox: Sandbox) -> None:
    body = _get(sandbox.info, "/rest/api/3/search/jql", jql="project = CHG").json()
    assert body["issues"] and all(issue.keys() == {"id"} for issue in body["issues"])
    assert "total" not in body


def test_search_jql_reconciles_at_most_50_issue_ids(sandbox: Sandbox) -> None:
    info = sandbox.info
    ids = [int(issue.id) for issue in list(sandbox.jira.store.issues.values())[:51]]
    fine = _get(info, "/rest/api/3/search/jql", jql="project = CHG", reconcileIssues=ids[:50])
    assert fine.status_code == 200, fine.text
    too_many = _get(info, "/rest/api/3/search/jql", jql="project = CHG", reconcileIssues=ids)
    assert too_many.status_code == 400


def test_search_tokens_are_bound_to_their_query(sandbox: Sandbox) -> None:
    info = sandbox.info
    first = _get(info, "/rest/api/3/search/jql", jql="project = CHG", maxResults=10).json()
    other = _get(
        info, "/rest/api/3/search/jql", jql="project = OPS", nextPageToken=first["nextPageToken"]
    )
    assert other.status_code == 400
    unbounded = _get(info, "/rest/api/3/search/jql", jql="ORDER BY key")
    assert unbounded.status_code == 400


def test_removed_search_is_gone_in_cloud_and_search_jql_absent_in_dc(
    sandbox: Sandbox, sandbox_datacenter: Sandbox
) -> None:
    for version in ("2", "3"):
        response = _get(sandbox.info, f"/rest/api/{version}/search", jql="project = CHG")
        assert response.status_code == 410
        assert "search/jql" in response.json()["errorMessages"][0]
    assert (
        _get(sandbox_datacenter.info, "/rest/api/2/search/jql", jql="project = CHG").status_code
        == 404
    )


def test_bad_jql_is_a_400(cloud: JIRA) -> None:
    with pytest.raises(JIRAError) as caught:
        cloud.enhanced_search_issues("project = CHG AND colour = red")
    assert caught.value.status_code == 400


def test_wrong_token_is_401(sandbox: Sandbox) -> None:
    wrong = _client(sandbox.info, login="connector")
    wrong._session.auth = (sandbox.info.credentials("connector")[0], "not-the-token")
    with pytest.raises(JIRAError) as caught:
        wrong.myself()
    wrong.close()
    assert caught.value.status_code == 401
    response = requests.get(
        f"{sandbox.info.jira_url}/rest/api/2/myself", timeout=10, verify=sandbox.info.ca_bundle
    )
    assert response.status_code == 401
    assert response.json()["errorMessages"][0].startswith("You are not authenticated")


def test_issue_fields_follow_raw_shapes(cloud: JIRA, sandbox: Sandbox) -> None:
    issue = cloud.issue("CHG-1")
    raw = issue.raw["fields"]
    assert issue.key == "CHG-1" and issue.id == "10001"
    assert raw[sandbox.jira_field_id("Change type")]["value"] == "Normal"
    assert raw["reporter"]["timeZone"] and "accountId" in raw["reporter"]
    # Timestamps are in the caller's zone (Los Angeles), with milliseconds.
    assert raw["updated"].endswith(("-0800", "-0700")) and raw["updated"][19] == "."
    v3 = _get(sandbox.info, "/rest/api/3/issue/CHG-1", fields="description").json()
    assert v3["fields"]["description"]["type"] == "doc"
    missing = _get(sandbox.info, "/rest/api/2/issue/CHG-99999")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_transitions_by_name_and_unavailable_ones(cloud: JIRA) -> None:
    key = _first_key(cloud, "Awaiting Approval")
    names = {t["name"] for t in cloud.transitions(key)}
    assert "Approve" in names and "Close" not in names
    with pytest.raises(JIRAError) as caught:
        cloud.transition_issue(key, "81")  # Close: not offered from Awaiting Approval
    assert caught.value.status_code == 400
    with pytest.raises(JIRAError) as caught:
        cloud.transition_issue(key, "Decline")  # needs a resolution
    assert caught.value.status_code == 400
    cloud.transition_issue(key, "Decline", fields={"resolution": {"name": "Declined"}})
    issue = cloud.issue(key, expand="changelog")
    assert issue.fields.status.name == "Declined"
    assert issue.fields.resolution.name == "Declined"
    last = issue.raw["changelog"]["histories"][-1]
    assert last["author"]["accountId"] and {i["field"] for i in last["items"]} >= {"status"}
    cloud.transition_issue(key, "Reopen")
    assert cloud.issue(key).fields.resolution is None


def _first_key(client: JIRA, status: str) -> str:
    found = client.enhanced_search_issues(
        f'project = CHG AND status = "{status}"', maxResults=1, fields="status"
    )
    return str(found[0].key)


def test_edits_bump_updated_and_write_history(cloud: JIRA, sandbox: Sandbox) -> None:
    key = _first_key(cloud, "Draft")
    before = cloud.issue(key)
    updated_before = before.fields.updated
    risk = sandbox.jira_field_id("Change risk")
    before.update(
        fields={risk: {"value": "High"}},
        update={"labels": [{"add": "sandbox-test"}]},
    )
    after = cloud.issue(key, expand="changelog")
    assert after.fields.updated != updated_before
    assert "sandbox-test" in after.fields.labels
    items = after.raw["changelog"]["histories"][-1]["items"]
    assert {i["fieldId"] for i in items} == {risk, "labels"}
    with pytest.raises(JIRAError) as caught:
        before.update(fields={"customfield_99999": "x"})
    assert caught.value.status_code == 400
    assert "customfield_99999" in caught.value.response.json()["errors"]


def test_comments_add_edit_and_page(cloud: JIRA, sandbox: Sandbox) -> None:
    comment = cloud.add_comment("CHG-2", "Checked by *the connector*")
    assert comment.body == "Checked by *the connector*"
    comment.update(body="Checked again")
    assert cloud.comment("CHG-2", comment.id).body == "Checked again"
    page = _get(sandbox.info, "/rest/api/3/issue/CHG-2/comment").json()
    assert page["total"] >= 1 and page["comments"][-1]["body"]["type"] == "doc"


def test_issue_properties(cloud: JIRA, sandbox: Sandbox) -> None:
    updated = cloud.issue("CHG-3").fields.updated
    assert cloud.add_issue_property("CHG-3", "connector.sync", {"fp": "abc"}).status_code == 201
    assert cloud.add_issue_property("CHG-3", "connector.sync", {"fp": "def"}).status_code == 200
    assert cloud.issue_property("CHG-3", "connector.sync").value.fp == "def"
    assert cloud.issue("CHG-3").fields.updated == updated  # properties are invisible
    keys = _get(sandbox.info, "/rest/api/2/issue/CHG-3/properties").json()["keys"]
    assert [k["key"] for k in keys] == ["connector.sync"]
    with pytest.raises(JIRAError) as caught:
        cloud.add_issue_property("CHG-3", "big", "x" * 40000)
    assert caught.value.status_code == 400
    assert _get(sandbox.info, "/rest/api/2/issue/CHG-3/properties/nope").status_code == 404


def test_dc_users_have_names(dc: JIRA) -> None:
    issue = dc.issue("CHG-4")
    assert "name" in issue.raw["fields"]["reporter"]
    assert "accountId" not in issue.raw["fields"]["reporter"]

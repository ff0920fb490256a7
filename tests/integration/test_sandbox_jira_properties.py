"""Entity properties in the Jira simulator where Jira documents them: with search results and
re-reads, inside transition and edit bodies, and comment properties by comment/list (Cloud) or
per comment (both)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connector.sandbox import Sandbox, SandboxInfo

KEY = "change-connector"


def _call(info: SandboxInfo, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method,
        f"{info.jira_url}/rest/api/2{path}",
        auth=info.credentials("connector"),
        verify=info.ca_bundle,
        timeout=10,
        **kw,
    )


def _search(info: SandboxInfo, cloud: bool, jql: str, properties: str) -> requests.Response:
    path = "/search/jql" if cloud else "/search"
    params = {"jql": jql, "fields": "summary", "properties": properties}
    return _call(info, "GET", path, params=params)


def _late(sandbox: Sandbox, n: int) -> str:
    """The key of one of the last seeded issues, which other tests leave alone."""
    return list(sandbox.jira.store.issues.values())[-1 - n].key


@pytest.fixture(params=["cloud", "datacenter"])
def site(request: pytest.FixtureRequest) -> tuple[Sandbox, bool]:
    cloud = request.param == "cloud"
    return request.getfixturevalue("sandbox" if cloud else "sandbox_datacenter"), cloud


def test_search_and_reread_return_the_asked_properties(site: tuple[Sandbox, bool]) -> None:
    sandbox, cloud = site
    info = sandbox.info
    value = {"v": 1, "notes": {}}
    a, b = sorted((_late(sandbox, 1), _late(sandbox, 2)))
    assert _call(info, "PUT", f"/issue/{a}/properties/{KEY}", json=value).status_code < 300
    page = _search(info, cloud, f"key in ({a}, {b}) ORDER BY key ASC", KEY).json()
    assert [i["properties"] for i in page["issues"]] == [{KEY: value}, {}]
    without = _call(
        info,
        "GET",
        "/search/jql" if cloud else "/search",
        params={"jql": f"key = {a}", "fields": "summary"},
    )
    assert "properties" not in without.json()["issues"][0]
    reread = _call(info, "GET", f"/issue/{a}", params={"fields": "status", "properties": KEY})
    assert reread.json()["properties"] == {KEY: value}
    six = ",".join(f"p{n}" for n in range(6))
    refused = _search(info, cloud, f"key = {a}", six)
    assert refused.status_code == 400 and "5" in refused.json()["errorMessages"][0]


def test_edit_and_transition_bodies_set_properties(site: tuple[Sandbox, bool]) -> None:
    sandbox, _ = site
    info = sandbox.info
    key = _late(sandbox, 3)
    issue = sandbox.jira.store.get(key)
    assert issue is not None
    updated = issue.updated_ms
    edit = _call(
        info, "PUT", f"/issue/{key}", json={"properties": [{"key": KEY, "value": {"a": 1}}]}
    )
    assert edit.status_code == 204, edit.text
    assert issue.properties[KEY] == {"a": 1} and issue.updated_ms == updated  # no history
    offered = _call(
        info, "GET", f"/issue/{key}/transitions", params={"expand": "transitions.fields"}
    ).json()["transitions"]
    first = offered[0]
    resolution = (first.get("fields") or {}).get("resolution")
    fields = {"resolution": {"name": resolution["allowedValues"][0]["name"]}} if resolution else {}
    status = issue.status
    too_big = {"key": KEY, "value": {"x": "y" * 40_000}}
    refused = _call(
        info,
        "POST",
        f"/issue/{key}/transitions",
        json={"transition": {"id": first["id"]}, "fields": fields, "properties": [too_big]},
    )
    assert refused.status_code == 400 and issue.status == status  # nothing done
    moved = _call(
        info,
        "POST",
        f"/issue/{key}/transitions",
        json={
            "transition": {"id": first["id"]},
            "fields": fields,
            "properties": [{"key": KEY, "value": {"b": 2}}],
        },
    )
    assert moved.status_code == 204, moved.text
    assert issue.properties[KEY] == {"b": 2} and issue.status != status


def test_an_edit_adds_a_comment_and_sets_a_property_together_or_not_at_all(
    site: tuple[Sandbox, bool],
) -> None:
    sandbox, cloud = site
    info = sandbox.info
    key = _late(sandbox, 4)
    issue = sandbox.jira.store.get(key)
    assert issue is not None
    comments, marks = len(issue.comments), {"v": 1, "notes": {"m": {"state": "done"}}}
    note = {
        "body": "h3. Findings",
        "properties": [
            {"key": KEY, "value": {"marker": "m"}},
            {"key": "sd.public.comment", "value": {"internal": True}},
        ],
    }
    refusals = [
        # a property over 32 KB: neither the comment nor the property is written
        {
            "update": {"comment": [{"add": note}]},
            "properties": [{"key": KEY, "value": "y" * 40_000}],
        },
        # a comment without a body: nor is the property
        {
            "update": {"comment": [{"add": {"body": ""}}]},
            "properties": [{"key": KEY, "value": marks}],
        },
        # a comment property over 32 KB
        {
            "update": {
                "comment": [{"add": {**note, "properties": [{"key": "x", "value": "y" * 40_000}]}}]
            }
        },
        # not an add
        {"update": {"comment": [{"remove": {"id": "1"}}]}},
    ]
    for body in refusals:
        refused = _call(info, "PUT", f"/issue/{key}", params={"returnIssue": "true"}, json=body)
        assert refused.status_code == 400, body
        assert len(issue.comments) == comments and KEY not in issue.properties
    body = {"update": {"comment": [{"add": note}]}, "properties": [{"key": KEY, "value": marks}]}
    edit = _call(info, "PUT", f"/issue/{key}", params={"returnIssue": "true"}, json=body)
    assert len(issue.comments) == comments + 1 and issue.properties[KEY] == marks
    added = issue.comments[-1]
    # Jira documents comment properties on the comment resource only: an edit's comment keeps
    # none, and one marked internal through them stays public.
    assert added.properties == [] and added.jsd_public
    if not cloud:  # Data Center documents no returnIssue: an edit answers with no body
        assert edit.status_code == 204
        return
    assert edit.status_code == 200, edit.text
    returned = edit.json()
    assert returned["key"] == key and list(returned["fields"]) == ["comment"]
    shown = returned["fields"]["comment"]["comments"]
    assert shown[-1]["id"] == str(added.id) and shown[-1]["body"] == "h3. Findings"


def test_an_edit_edits_a_comment_and_sets_a_property_together_or_not_at_all(
    site: tuple[Sandbox, bool],
) -> None:
    sandbox, _ = site
    info = sandbox.info
    key = _late(sandbox, 5)
    issue = sandbox.jira.store.get(key)
    assert issue is not None
    posted = _call(info, "POST", f"/issue/{key}/comment", json={"body": "v1"}).json()
    marks = {"v": 1, "notes": {"m": {"ref": posted["id"], "fp": "f2", "state": "done"}}}
    edit = {"edit": {"id": posted["id"], "body": "v2"}}
    refusals = [
        {"update": {"comment": [{"edit": {"id": "99999999", "body": "v2"}}]}},  # no such comment
        {"update": {"comment": [{"edit": {"id": posted["id"], "body": ""}}]}},  # no body
        {"update": {"comment": [edit]}, "properties": [{"key": KEY, "value": "y" * 40_000}]},
    ]
    for body in refusals:
        assert _call(info, "PUT", f"/issue/{key}", json=body).status_code == 400, body
        assert issue.comments[-1].body == "v1" and KEY not in issue.properties
    body = {"update": {"comment": [edit]}, "properties": [{"key": KEY, "value": marks}]}
    done = _call(info, "PUT", f"/issue/{key}", json=body)
    assert done.status_code == 204, done.text
    assert issue.comments[-1].body == "v2" and issue.properties[KEY] == marks
    admin_comment = _call(info, "GET", f"/issue/{key}/comment").json()["comments"]
    assert [c["body"] for c in admin_comment if c["id"] == posted["id"]] == ["v2"]


def test_comment_properties_as_each_deployment_documents_them(site: tuple[Sandbox, bool]) -> None:
    sandbox, cloud = site
    info = sandbox.info
    body = {"body": "marked", "properties": [{"key": KEY, "value": {"marker": "m1"}}]}
    posted = _call(info, "POST", f"/issue/{_late(sandbox, 4)}/comment", json=body).json()
    cid = posted["id"]
    one = _call(info, "GET", f"/comment/{cid}/properties/{KEY}")
    assert one.json() == {"key": KEY, "value": {"marker": "m1"}}
    assert _call(info, "GET", f"/comment/{cid}/properties/other").status_code == 404
    keys = _call(info, "GET", f"/comment/{cid}/properties").json()["keys"]
    assert [k["key"] for k in keys] == [KEY]
    listed = _call(
        info, "POST", "/comment/list", params={"expand": "properties"}, json={"ids": [int(cid)]}
    )
    if not cloud:
        assert listed.status_code == 404  # Data Center documents no comment/list
        return
    [comment] = listed.json()["values"]
    assert comment["id"] == cid and comment["properties"] == [
        {"key": KEY, "value": {"marker": "m1"}}
    ]
    plain = _call(info, "POST", "/comment/list", json={"ids": [int(cid)]}).json()["values"]
    assert "properties" not in plain[0]
    too_many = _call(info, "POST", "/comment/list", json={"ids": list(range(1, 1002))})
    assert too_many.status_code == 400

"""The Jira sandbox as strict as a real JSM site: per-instance field ids, the site's other
custom fields with values, the integration user's permissions, field metadata, page caps,
documented expands only and deletions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions


def _get(info: SandboxInfo, path: str, *, login: str = "connector", **params: Any) -> Any:
    return requests.get(
        f"{info.jira_url}{path}",
        params=params,
        auth=info.credentials(login),
        verify=info.ca_bundle,
        timeout=10,
    )


def _send(
    info: SandboxInfo, method: str, path: str, body: Any = None, *, login: str = "connector"
) -> requests.Response:
    return requests.request(
        method,
        f"{info.jira_url}{path}",
        json=body,
        auth=info.credentials(login),
        verify=info.ca_bundle,
        timeout=10,
    )


def test_field_ids_are_the_instances_own(sandbox: Sandbox) -> None:
    info = sandbox.info
    fields = {f["id"]: f for f in _get(info, "/rest/api/2/field").json()}
    assert json.loads(info.as_json())["jira_fields"] == info.jira_fields
    for name, fid in info.jira_fields.items():
        assert fields[fid]["name"] == name and fields[fid]["custom"] is True
        assert fid == sandbox.jira_field_id(name)
        assert fields[fid]["schema"]["customId"] == int(fid.removeprefix("customfield_"))
    assert fields["summary"]["schema"] == {"type": "string", "system": "summary"}
    with pytest.raises(KeyError, match="Planned start"):
        info.jira_field_id("Planned start")


def test_another_seed_numbers_its_fields_otherwise(sandbox: Sandbox, tmp_path: Path) -> None:
    with Sandbox(SandboxOptions(data_dir=tmp_path, random_seed=31337, seed_count=5)) as info:
        assert info.jira_fields.keys() == sandbox.info.jira_fields.keys()
        assert info.jira_fields != sandbox.info.jira_fields
        issue = _get(info, "/rest/api/2/issue/CHG-1").json()["fields"]
        assert issue[info.jira_field_id("Change type")]["value"] in {
            "Standard",
            "Normal",
            "Emergency",
        }


def test_issues_carry_jsm_values_and_the_sites_other_fields(sandbox: Sandbox) -> None:
    info = sandbox.info
    issues = _get(
        info, "/rest/api/2/search/jql", jql="project = CHG", fields="*all", maxResults=30
    ).json()["issues"]
    cf = info.jira_field_id
    impacts = {i["fields"][cf("Impact")]["value"] for i in issues}
    assert impacts <= {
        "Extensive / Widespread",
        "Significant / Large",
        "Moderate / Limited",
        "Minor / Localized",
    }
    assert len(impacts) >= 3
    assert {i["fields"][cf("Urgency")]["value"] for i in issues} <= {
        "Critical",
        "High",
        "Medium",
        "Low",
    }
    ranks = [i["fields"][cf("Rank")] for i in issues]
    assert all(r.startswith("0|i") and r.endswith(":") for r in ranks)
    sprints = [i["fields"][cf("Sprint")] for i in issues if i["fields"][cf("Sprint")]]
    assert sprints and {"id", "name", "state", "boardId"} <= sprints[0][0].keys()
    assert any(isinstance(i["fields"][cf("Story point estimate")], float) for i in issues)
    assert all(i["fields"][cf("Team")]["name"] for i in issues)
    starts = [i["fields"][cf("Change start date")] for i in issues]
    assert any(s and s[10] == "T" for s in starts)


def test_the_integration_user_is_least_privileged(sandbox: Sandbox) -> None:
    info = sandbox.info
    impact = info.jira_field_id("Impact")
    for method, path in (
        ("GET", f"/rest/api/3/field/{impact}/context"),
        ("GET", f"/rest/api/2/field/{impact}/context/10100/option"),
        ("DELETE", "/rest/api/2/issue/CHG-43"),
        ("POST", "/rest/api/2/issue"),
    ):
        refused = _send(info, method, path, {"fields": {}} if method == "POST" else None)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["errorMessages"] and refused.json()["errors"] == {}
    assert _get(info, "/rest/api/2/issue/CHG-43").status_code == 200  # not deleted
    held = _get(
        info,
        "/rest/api/3/mypermissions",
        permissions="BROWSE_PROJECTS,EDIT_ISSUES,TRANSITION_ISSUES,ADD_COMMENTS,"
        "CREATE_ISSUES,DELETE_ISSUES,ADMINISTER",
    ).json()["permissions"]
    assert {k for k, p in held.items() if p["havePermission"]} == {
        "BROWSE_PROJECTS",
        "EDIT_ISSUES",
        "TRANSITION_ISSUES",
        "ADD_COMMENTS",
    }
    assert _get(info, "/rest/api/3/mypermissions").status_code == 400
    # What the worker does stays allowed: edit, comment, issue properties.
    assert _send(info, "PUT", "/rest/api/2/issue/CHG-43", {"fields": {"labels": ["x"]}}).ok
    comment = _send(info, "POST", "/rest/api/2/issue/CHG-43/comment", {"body": "ok"})
    assert comment.status_code == 201
    mine = f"/rest/api/2/issue/CHG-43/comment/{comment.json()['id']}"
    assert _send(info, "PUT", mine, {"body": "edited"}).ok
    assert _send(info, "PUT", "/rest/api/2/issue/CHG-43/properties/p", {"v": 1}).status_code == 201
    # ... but not someone else's comment.
    theirs = _send(info, "POST", "/rest/api/2/issue/CHG-43/comment", {"body": "b"}, login="bob")
    path = f"/rest/api/2/issue/CHG-43/comment/{theirs.json()['id']}"
    assert _send(info, "PUT", path, {"body": "x"}).status_code == 403


def test_field_contexts_and_options_for_the_admin(sandbox: Sandbox) -> None:
    info = sandbox.info
    risk = info.jira_field_id("Change risk")
    contexts = _get(info, f"/rest/api/3/field/{risk}/context", login="admin").json()
    assert contexts["total"] == 1 and contexts["values"][0]["isGlobalContext"] is True
    context = contexts["values"][0]["id"]
    options = _get(info, f"/rest/api/3/field/{risk}/context/{context}/option", login="admin")
    assert [o["value"] for o in options.json()["values"]] == ["Low", "Medium", "High", "Critical"]
    wrong = _get(info, f"/rest/api/3/field/{risk}/context/1/option", login="admin")
    assert wrong.status_code == 404
    text = info.jira_field_id("Rollback plan")
    missing = _get(info, "/rest/api/3/field/customfield_99999/context", login="admin")
    assert missing.status_code == 404
    context = _get(info, f"/rest/api/3/field/{text}/context", login="admin").json()
    no_options = _get(
        info,
        f"/rest/api/3/field/{text}/context/{context['values'][0]['id']}/option",
        login="admin",
    )
    assert no_options.status_code == 400


def test_edit_and_create_metadata_list_allowed_values(sandbox: Sandbox) -> None:
    info = sandbox.info
    impact, rank = info.jira_field_id("Impact"), info.jira_field_id("Rank")
    fields = _get(info, "/rest/api/2/issue/CHG-44/editmeta").json()["fields"]
    assert len(fields[impact]["allowedValues"]) == 4
    assert fields[impact]["allowedValues"][0]["value"] == "Extensive / Widespread"
    assert fields[impact]["schema"]["custom"].endswith(":select")
    assert rank not in fields  # not on any screen
    assert {v["name"] for v in fields["resolution"]["allowedValues"]} >= {"Done", "Declined"}
    assert "allowedValues" not in fields[info.jira_field_id("Rollback plan")]
    meta = "/rest/api/2/issue/createmeta/CHG/issuetypes"
    assert _get(info, meta).status_code == 400  # the integration user may not create
    types = _get(info, meta, login="bob").json()["issueTypes"]
    page = _get(info, f"{meta}/{types[0]['id']}", login="bob", maxResults=200).json()
    by_id = {f["fieldId"]: f for f in page["fields"]}
    assert by_id["summary"]["required"] and by_id["project"]["required"]
    assert len(by_id[impact]["allowedValues"]) == 4
    assert page["total"] == len(page["fields"])


def test_project_statuses_and_transition_targets_carry_categories(sandbox: Sandbox) -> None:
    info = sandbox.info
    [change] = _get(info, "/rest/api/2/project/CHG/statuses").json()
    assert change["name"] == "Change"
    categories = {s["name"]: s["statusCategory"]["key"] for s in change["statuses"]}
    assert categories["Draft"] == "new" and categories["Closed"] == "done"
    assert categories["Implementing"] == "indeterminate"
    transitions = _get(info, "/rest/api/2/issue/CHG-44/transitions").json()["transitions"]
    assert all(t["to"]["statusCategory"]["key"] in categories.values() for t in transitions)
    assert _get(info, "/rest/api/2/project/NOPE/statuses").status_code == 404


def test_comment_expand_is_renderedbody_only(sandbox: Sandbox) -> None:
    info = sandbox.info
    body = {
        "body": "marked",
        "properties": [{"key": "change-connector", "value": {"marker": "m-1"}}],
    }
    created = _send(info, "POST", "/rest/api/2/issue/CHG-45/comment", body).json()
    page = _get(info, "/rest/api/2/issue/CHG-45/comment", expand="properties,renderedBody")
    [mine] = [c for c in page.json()["comments"] if c["id"] == created["id"]]
    assert "properties" not in mine and mine["renderedBody"]
    one = _get(info, f"/rest/api/2/issue/CHG-45/comment/{created['id']}", expand="properties")
    assert "properties" not in one.json() and "renderedBody" not in one.json()


def test_data_center_pages_stop_at_the_sites_maximum(tmp_path: Path) -> None:
    options = SandboxOptions(
        data_dir=tmp_path, mode="datacenter", random_seed=4242, seed_count=40, max_results=7
    )
    with Sandbox(options) as info:
        first = _get(info, "/rest/api/2/search", jql="project = CHG", maxResults=50).json()
        assert first["maxResults"] == 7 and len(first["issues"]) == 7
        assert first["total"] > 7
        keys, start = [], 0
        while start < first["total"]:
            page = _get(
                info, "/rest/api/2/search", jql="project = CHG", startAt=start, maxResults=50
            ).json()
            keys += [i["key"] for i in page["issues"]]
            start += len(page["issues"])
        assert len(set(keys)) == first["total"]


def test_date_fields_take_dates_only(sandbox: Sandbox) -> None:
    info = sandbox.info
    start = info.jira_field_id("Start date")
    bad = _send(info, "PUT", "/rest/api/2/issue/CHG-46", {"fields": {start: "21/Nov/26"}})
    assert bad.status_code == 400 and start in bad.json()["errors"]
    assert _send(info, "PUT", "/rest/api/2/issue/CHG-46", {"fields": {start: "2026-11-20"}}).ok
    assert _get(info, "/rest/api/2/issue/CHG-46").json()["fields"][start] == "2026-11-20"
    rank = info.jira_field_id("Rank")
    refused = _send(info, "PUT", "/rest/api/2/issue/CHG-46", {"fields": {rank: "0|zzz:"}})
    assert refused.status_code == 400 and rank in refused.json()["errors"]

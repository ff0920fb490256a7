"""The sandbox answers in the shapes of real published bodies (tests/fixtures/real).

Shapes, not values: ids, custom field ids and option values differ per site (and per sandbox
seed), so each test compares the keys the worker reads and their JSON types (`shapes.py`).
Where the two disagree, the sandbox is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from shapes import shape_problems

from connector.sandbox import Sandbox

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"

USER_CLOUD = {"self": None, "accountId": None, "displayName": None, "active": None}
STATUS = {
    "self": None,
    "name": None,
    "id": None,
    "statusCategory": {"id": None, "key": None, "colorName": None, "name": None},
}
CLOUD_ISSUE = {
    "id": None,
    "self": None,
    "key": None,
    "fields": {
        "summary": None,
        "status": STATUS,
        "issuetype": {"self": None, "id": None, "name": None, "subtask": None},
        "project": {"self": None, "id": None, "key": None, "name": None},
        "priority": {"self": None, "name": None, "id": None},
        "reporter": USER_CLOUD,
        "creator": USER_CLOUD,
        "fixVersions": [
            {"self": None, "id": None, "name": None, "archived": None, "released": None}
        ],
        "created": None,
        "updated": None,
    },
}
OPTION = {"self": None, "value": None, "id": None}


def real(*parts: str) -> Any:
    return json.loads(REAL.joinpath(*parts).read_text(encoding="utf-8"))


class Api:
    def __init__(self, sandbox: Sandbox, user: str = "connector") -> None:
        self.base = sandbox.info.jira_url
        self.session = requests.Session()
        self.session.auth = sandbox.info.credentials(user)
        self.ca_bundle = sandbox.info.ca_bundle  # per request: REQUESTS_CA_BUNDLE beats verify

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(
            self.base + path, params=params, timeout=10, verify=self.ca_bundle
        )
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.session.post(self.base + path, json=body, timeout=10, verify=self.ca_bundle)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="module")
def cloud(sandbox: Sandbox) -> Iterator[Api]:
    api = Api(sandbox)
    yield api
    api.session.close()


@pytest.fixture(scope="module")
def datacenter(sandbox_datacenter: Sandbox) -> Iterator[Api]:
    api = Api(sandbox_datacenter)
    yield api
    api.session.close()


def test_the_comparison_is_not_vacuous() -> None:
    ref = {"a": "x", "n": 1, "l": [{"k": True}], "m": {"f1": {"v": "s"}}, "z": None}
    spec = {"a": None, "n": None, "l": [{"k": None}], "m": {"*": {"v": None}}, "z": None}
    same = {"a": "y", "n": 2.5, "l": [{"k": False}, {"k": True}], "m": {"f9": {"v": "t"}}, "z": 3}
    assert shape_problems(ref, same, spec) == []
    wrong = {"a": 1, "l": [{"k": "yes"}], "m": {"f2": {}}, "z": None}
    assert shape_problems(ref, wrong, spec) == [
        "$.a: real has string, ours has number",
        "$.n: missing (real has number)",
        "$.l[0].k: real has boolean, ours has string",
        "$.m.f2.v: missing (real has string)",
    ]
    assert shape_problems(ref, same, {"b": None}) == [
        "$.b: the real body has no such key (fix the spec)"
    ]
    assert shape_problems(ref, {"a": "y"}, {"a": None, "?n": None}) == []


# -- Jira Cloud ------------------------------------------------------------------------------


def test_cloud_search_page_envelope(cloud: Api) -> None:
    ref = real("jira-cloud", "search_jql_page.json")
    spec = {
        "isLast": None,
        "issues": [{"expand": None, "id": None, "key": None, "self": None, "fields": {}}],
    }
    first = cloud.get("/rest/api/3/search/jql", jql="project = CHG", fields="summary", maxResults=5)
    assert shape_problems(ref, first, spec) == []
    assert isinstance(first["nextPageToken"], str)
    last = first
    for _ in range(100):  # to the last page: the one without nextPageToken
        if "nextPageToken" not in last:
            break
        last = cloud.get(
            "/rest/api/3/search/jql",
            jql="project = CHG",
            fields="summary",
            maxResults=100,
            nextPageToken=last["nextPageToken"],
        )
        assert shape_problems(ref, last, spec) == []
    # The real last page carries no nextPageToken: that absence is the documented end.
    assert "nextPageToken" not in ref and "nextPageToken" not in last
    assert last is not first


def test_cloud_issue_fields_like_a_real_cloud_issue(cloud: Api) -> None:
    ref = real("jira-webhooks", "issue_created_with_custom_fields.json")["issue"]
    page = cloud.get("/rest/api/2/search/jql", jql="project = CHG", fields="*all", maxResults=50)
    issues = [i for i in page["issues"] if i["fields"].get("fixVersions")]
    assert issues
    for issue in issues:
        assert shape_problems(ref, issue, CLOUD_ISSUE) == [], issue["key"]


def test_cloud_select_options_have_the_real_option_shape(cloud: Api) -> None:
    """Every select option the sandbox renders, in any custom field, looks like a real one."""
    ref = real("jira-webhooks", "issue_created_with_custom_fields.json")["issue"]["fields"]
    option = ref["customfield_10071"]
    page = cloud.get("/rest/api/2/search/jql", jql="project = CHG", fields="*all", maxResults=50)
    seen = 0
    for issue in page["issues"]:
        for fid, value in issue["fields"].items():
            if not fid.startswith("customfield_"):
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict) and "value" in item:
                    seen += 1
                    assert shape_problems(option, item, OPTION) == [], (issue["key"], fid)
    assert seen > 0


def test_field_list(cloud: Api) -> None:
    ref = {f["id"]: f for f in real("jira-cloud", "fields.json")}
    ours = {f["id"]: f for f in cloud.get("/rest/api/3/field")}
    spec = {
        "id": None,
        "name": None,
        "custom": None,
        "orderable": None,
        "navigable": None,
        "searchable": None,
        "clauseNames": [None],
        "schema": {"type": None, "system": None},
    }
    for fid in ("summary", "description"):
        assert shape_problems(ref[fid], ours[fid], spec) == [], fid


TRANSITIONS = {
    "transitions": [
        {
            "id": None,
            "name": None,
            "hasScreen": None,
            "to": {
                "self": None,
                "id": None,
                "name": None,
                "statusCategory": {"id": None, "key": None, "colorName": None},
            },
            "?fields": {
                "*": {
                    "required": None,
                    "schema": {"type": None},
                    "name": None,
                    "operations": [None],
                }
            },
        }
    ]
}


@pytest.mark.parametrize("deployment", ["cloud", "datacenter"])
def test_transitions(deployment: str, request: pytest.FixtureRequest) -> None:
    """Atlassian's example is the Cloud one; Data Center's transitions have the same shape."""
    api: Api = request.getfixturevalue(deployment)
    ref = real("jira-cloud", "transitions.json")
    ours = api.get("/rest/api/2/issue/CHG-15/transitions", expand="transitions.fields")
    assert ours["transitions"]
    assert shape_problems(ref, ours, TRANSITIONS) == []


def test_comment_page(cloud: Api) -> None:
    ref = real("jira-cloud", "comments_page.json")
    doc = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Shape check"}]}],
    }
    cloud.post("/rest/api/3/issue/CHG-16/comment", {"body": doc})
    ours = cloud.get("/rest/api/3/issue/CHG-16/comment")
    spec = {
        "startAt": None,
        "maxResults": None,
        "total": None,
        "comments": [
            {
                "id": None,
                "self": None,
                "author": USER_CLOUD,
                "updateAuthor": USER_CLOUD,
                "body": {
                    "type": None,
                    "version": None,
                    "content": [{"type": None, "content": [None]}],
                },
                "created": None,
                "updated": None,
            }
        ],
    }
    assert ours["total"] >= 1
    assert shape_problems(ref, ours, spec) == []


def test_editmeta(cloud: Api) -> None:
    ref = real("jira-cloud", "editmeta.json")
    spec = {
        "fields": {
            "*": {
                "required": None,
                "schema": {"type": None},
                "name": None,
                "key": None,
                "operations": [None],
                "?allowedValues": None,
            }
        }
    }
    ours = cloud.get("/rest/api/3/issue/CHG-15/editmeta")
    assert len(ours["fields"]) > 1
    assert shape_problems(ref, ours, spec) == []


# -- Jira Data Center ------------------------------------------------------------------------


def test_datacenter_search_page(datacenter: Api) -> None:
    ref = real("jira-datacenter", "search_page.json")
    spec = {
        "expand": None,
        "startAt": None,
        "maxResults": None,
        "total": None,
        "issues": [
            {
                "expand": None,
                "id": None,
                "self": None,
                "key": None,
                "fields": {
                    "summary": None,
                    "issuetype": {
                        "self": None,
                        "id": None,
                        "description": None,
                        "iconUrl": None,
                        "name": None,
                        "subtask": None,
                    },
                },
            }
        ],
    }
    ours = datacenter.get("/rest/api/2/search", jql="project = CHG", startAt=1, maxResults=40)
    assert ours["startAt"] == 1 and ours["issues"]
    assert shape_problems(ref, ours, spec) == []


def test_datacenter_users_are_named_not_account_ids(datacenter: Api) -> None:
    """Server / Data Center users carry name and key, as in the real Agile page, no accountId."""
    ref = real("jira-cloud", "agile_sprint_issues.json")["issues"][0]["fields"]["assignee"]
    spec = {
        "self": None,
        "name": None,
        "key": None,
        "displayName": None,
        "active": None,
        "emailAddress": None,
    }
    page = datacenter.get("/rest/api/2/search", jql="project = CHG", fields="assignee,reporter")
    users = [
        i["fields"][f]
        for i in page["issues"]
        for f in ("assignee", "reporter")
        if i["fields"].get(f)
    ]
    assert users
    for user in users:
        assert shape_problems(ref, user, spec) == []
        assert "accountId" not in user


# -- ServiceNow ------------------------------------------------------------------------------


def test_servicenow_display_values_like_a_real_change(sandbox: Sandbox) -> None:
    """Every column of the real change reads back as {display_value, value} with display=all.

    The real body comes from the Change Management API, which sends choice values as JSON
    numbers and booleans; the Table API sends strings, so there only display_value's type is
    compared and value must be a string.
    """
    from connector.sandbox.catalog import sys_id_for

    ref = real("servicenow", "change_request_from_template_display.json")["result"]
    info = sandbox.info
    with requests.Session() as http:
        http.auth = info.credentials("connector", "servicenow")
        response = http.get(
            f"{info.servicenow_url}/api/now/table/change_request/"
            + sys_id_for("change_request:CHG0030001"),
            params={"sysparm_display_value": "all"},
            timeout=10,
            verify=info.ca_bundle,
        )
    assert response.status_code == 200, response.text
    ours = response.json()["result"]
    columns = [k for k in ref if k != "__meta"]
    spec: dict[str, Any] = {}
    for column in columns:
        typed = isinstance(ref[column]["value"], str)
        spec[column] = {"display_value": None, "value": None} if typed else {"display_value": None}
        if not typed:
            assert isinstance(ours[column]["value"], str), column
    assert len(columns) == 32
    assert shape_problems(ref, ours, spec) == []

"""The ServiceNow simulator's ACLs, dictionary, choices, template display and deletions, over
real HTTPS, read as the least-privileged integration user (`connector`: itil and
personalize_dictionary) and as the people a real instance has beside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.commands.demo import sandbox_sources
from connector.core.errors import TicketDeleted
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.sandbox.catalog import SERVICENOW_ROLES, USERS_BY_LOGIN, sys_id_for
from connector.systems.servicenow import ServiceNowAdapter


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(SandboxOptions(data_dir=tmp_path_factory.mktemp("sn-acl"), seed_count=60))
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def info(sandbox: Sandbox) -> SandboxInfo:
    return sandbox.info


@pytest.fixture
def snow(info: SandboxInfo) -> Iterator[ServiceNowAdapter]:
    adapter = ServiceNowAdapter("sandbox-servicenow", sandbox_sources(info)["sandbox-servicenow"])
    yield adapter
    adapter.close()


def call(info: SandboxInfo, user: str, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method,
        f"{info.servicenow_url}/api/now/table/{path}",
        auth=info.credentials(user, "servicenow"),
        verify=info.ca_bundle,
        timeout=30,
        **kw,
    )


def test_the_integration_user_has_the_documented_roles_and_no_admin(info: SandboxInfo) -> None:
    assert SERVICENOW_ROLES["connector"] == ("itil", "personalize_dictionary")
    rows = call(
        info, "connector", "GET", "sys_user", params={"sysparm_query": "user_name=connector"}
    ).json()["result"]
    assert rows[0]["roles"] == "itil,personalize_dictionary"


@pytest.mark.parametrize(
    ("user", "table", "status"),
    [
        ("connector", "sys_journal_field", 403),
        ("alice", "sys_journal_field", 403),
        ("admin", "sys_journal_field", 200),
        ("connector", "sys_dictionary", 200),
        ("alice", "sys_dictionary", 403),
        ("alice", "sys_choice", 200),
        ("erin", "sys_choice", 200),
        ("erin", "change_request", 403),
        ("erin", "cmdb_ci", 403),
        ("connector", "cmdb_ci", 200),
        ("connector", "std_change_producer_version", 200),
        ("erin", "sys_user", 200),
    ],
)
def test_table_read_acls(info: SandboxInfo, user: str, table: str, status: int) -> None:
    response = call(info, user, "GET", table, params={"sysparm_limit": 1})
    assert response.status_code == status
    if status == 403:
        assert response.json() == {
            "error": {
                "message": "User Not Authorized",
                "detail": f"User is unauthorized to access table: {table}",
            },
            "status": "failure",
        }


def test_an_approver_sees_and_answers_only_the_approvals_routed_to_them(
    info: SandboxInfo,
) -> None:
    erin = USERS_BY_LOGIN["erin"].sys_id
    mine = call(info, "erin", "GET", "sysapproval_approver").json()["result"]
    every = call(info, "connector", "GET", "sysapproval_approver").json()["result"]
    assert mine and {r["approver"]["value"] for r in mine} == {erin}
    assert len(every) > len(mine)
    carol = USERS_BY_LOGIN["carol"].sys_id
    other = next(r for r in every if r["approver"]["value"] not in (erin, carol))
    hidden = call(info, "erin", "GET", f"sysapproval_approver/{other['sys_id']}")
    assert hidden.status_code == 404
    refused = call(
        info, "carol", "PATCH", f"sysapproval_approver/{other['sys_id']}", json={"state": "x"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "message": "Operation Failed",
        "detail": "ACL Exception Update Failed due to security constraints",
    }


def test_writes_need_their_role(info: SandboxInfo) -> None:
    change = sys_id_for("change_request:CHG0030003")
    assert call(info, "erin", "PATCH", f"change_request/{change}", json={}).status_code == 403
    ci = call(info, "connector", "GET", "cmdb_ci", params={"sysparm_limit": 1}).json()["result"]
    template = call(info, "connector", "GET", "std_change_producer_version").json()["result"][0]
    bad = call(
        info, "connector", "PATCH", f"std_change_producer_version/{template['sys_id']}", json={}
    )
    assert bad.status_code == 403
    assert call(info, "connector", "PATCH", f"cmdb_ci/{ci[0]['sys_id']}", json={}).ok
    assert call(info, "connector", "POST", "sys_choice", json={"value": "x"}).status_code == 403
    assert call(info, "connector", "DELETE", f"change_request/{change}").status_code == 403


def test_template_versions_display_with_their_version(info: SandboxInfo) -> None:
    rows = call(
        info,
        "connector",
        "GET",
        "change_request",
        params={
            "sysparm_query": "std_change_producer_versionISNOTEMPTY",
            "sysparm_fields": "std_change_producer_version",
            "sysparm_display_value": "all",
        },
    ).json()["result"]
    assert rows
    cell = rows[0]["std_change_producer_version"]
    assert set(cell) == {"display_value", "link", "value"}
    assert cell["link"].endswith(f"/api/now/table/std_change_producer_version/{cell['value']}")
    name, _, version = cell["display_value"].rpartition(" - ")
    assert name.startswith("SOP-") and version.isdigit()
    plain = call(
        info,
        "connector",
        "GET",
        "change_request",
        params={
            "sysparm_query": "std_change_producer_versionISNOTEMPTY",
            "sysparm_fields": "std_change_producer_version",
            "sysparm_exclude_reference_link": "true",
        },
    ).json()["result"]
    assert plain[0]["std_change_producer_version"] == cell["value"]


def test_dictionary_merges_task_and_the_change_table(snow: ServiceNowAdapter) -> None:
    columns = {c["element"]: c for c in snow.dictionary("change_request")}
    assert columns["state"]["name"] == "task" and columns["state"]["internal_type"] == "integer"
    assert columns["type"]["name"] == "change_request" and columns["type"]["choice"] == "1"
    assert columns["risk"]["internal_type"] == "integer"
    assert columns["start_date"]["internal_type"] == "glide_date_time"
    assert columns["cmdb_ci"]["internal_type"] == "reference"
    assert columns["cmdb_ci"]["reference"] == "cmdb_ci"
    assert columns["u_affected_systems"]["internal_type"] == "glide_list"
    assert columns["work_notes"]["internal_type"] == "journal_input"
    assert columns["std_change_producer_version"]["reference"] == "std_change_producer_version"
    assert columns["short_description"]["column_label"] == "Short description"


def test_choices_take_the_change_tables_own_state(snow: ServiceNowAdapter) -> None:
    choices = snow.choices("change_request")
    states = [c["value"] for c in choices["state"]]
    assert states == ["-5", "-4", "-3", "-2", "-1", "0", "3", "4"]  # not task's Open / Pending
    assert [c["label"] for c in choices["risk"]] == ["Very High", "High", "Moderate", "Low"]
    assert [c["value"] for c in choices["impact"]] == ["1", "2", "3"]  # defined on task
    assert {c["value"] for c in choices["type"]} == {"standard", "normal", "emergency"}
    assert {c["value"]: c["inactive"] for c in choices["phase"]} == {
        "requested": False,
        "open": True,
    }


def test_a_deleted_change_is_gone(sandbox: Sandbox, info: SandboxInfo) -> None:
    number = "CHG0030007"
    sys_id = sys_id_for(f"change_request:{number}")
    approvals = {"sysparm_query": f"sysapproval={sys_id}"}
    assert call(info, "admin", "GET", "sysapproval_approver", params=approvals).json()["result"]
    assert call(info, "admin", "DELETE", f"change_request/{sys_id}").status_code == 204
    gone = call(info, "connector", "GET", f"change_request/{sys_id}")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "No Record found"
    listed = call(
        info, "connector", "GET", "change_request", params={"sysparm_query": f"number={number}"}
    )
    assert listed.json()["result"] == []
    assert not call(info, "admin", "GET", "sysapproval_approver", params=approvals).json()["result"]
    assert sandbox.servicenow.delete_change("CHG0030008") == sys_id_for("change_request:CHG0030008")


def test_the_adapter_reports_a_deleted_change(sandbox: Sandbox, snow: ServiceNowAdapter) -> None:
    sys_id = sandbox.servicenow.delete_change("CHG0030009")
    for key in ("CHG0030009", sys_id):
        with pytest.raises(TicketDeleted) as raised:
            snow.fetch(key)
        assert raised.value.key == key
    with pytest.raises(TicketDeleted):
        snow.add_work_note(sys_id, text="Findings", marker="gone-1")

"""The ServiceNow simulator over real HTTPS: the unmodified pysnc client, and plain requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pysnc import ServiceNowClient
from pysnc.exceptions import AuthenticationException

from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.sandbox.catalog import USERS_BY_LOGIN, sys_id_for

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
NOW = datetime(2026, 11, 20, 8, 30, 15, 987654, tzinfo=UTC)
FIRST = sys_id_for("change_request:CHG0030001")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`, which is
    # how pysnc passes the CA: without this, a CI box that sets them fails verification.
    with pytest.MonkeyPatch.context() as env:
        env.delenv("REQUESTS_CA_BUNDLE", raising=False)
        env.delenv("CURL_CA_BUNDLE", raising=False)
        box = Sandbox(SandboxOptions(data_dir=tmp_path_factory.mktemp("sn"), seed_count=200))
        box.state.clock = lambda: NOW
        box.start()
        try:
            yield box
        finally:
            box.stop()


@pytest.fixture(scope="module")
def info(sandbox: Sandbox) -> SandboxInfo:
    return sandbox.info


@pytest.fixture
def client(info: SandboxInfo) -> Iterator[ServiceNowClient]:
    sn = ServiceNowClient(
        info.servicenow_url,
        info.credentials("connector", "servicenow"),
        verify=info.ca_bundle,
        auto_retry=False,
    )
    yield sn
    sn.session.close()  # keep-alive connections would outlive the server otherwise


@pytest.fixture
def http(info: SandboxInfo) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = info.credentials("connector", "servicenow")
        session.verify = info.ca_bundle
        yield session


def table_url(info: SandboxInfo, table: str, sys_id: str = "") -> str:
    return f"{info.servicenow_url}/api/now/table/{table}" + (f"/{sys_id}" if sys_id else "")


def log_counts(info: SandboxInfo) -> dict[str, int]:
    with requests.get(info.requests_url, verify=info.ca_bundle) as response:
        counts: dict[str, int] = response.json()["counts"]
    return counts


# -- pysnc ------------------------------------------------------------------------------------


def test_pysnc_pages_through_every_change(client: ServiceNowClient, info: SandboxInfo) -> None:
    requests.delete(info.requests_url, verify=info.ca_bundle)
    gr = client.GlideRecord("change_request", batch_size=50)
    gr.add_encoded_query("sys_updated_on>=2020-01-01 00:00:00^ORDERBYsys_updated_on")
    gr.order_by("sys_id")
    gr.query()
    seen = [(r.get_value("number"), r.get_value("sys_updated_on")) for r in gr]
    assert len(seen) == 200 == len({number for number, _ in seen})
    assert [u for _, u in seen] == sorted(u for _, u in seen)
    assert log_counts(info)["GET /servicenow/api/now/table/change_request"] == 4


def test_pysnc_get_and_display_values(client: ServiceNowClient) -> None:
    gr = client.GlideRecord("change_request")
    assert gr.get(FIRST)
    assert gr.get_value("number") == "CHG0030001"
    assert gr.get_value("state") == "-3" and gr.get_display_value("state") == "Authorize"
    assert gr.get_value("approval") == "approved"
    assert gr.get_display_value("approval") == "Approved"
    alice = USERS_BY_LOGIN["alice"]
    assert gr.get_value("requested_by") == alice.sys_id
    assert gr.get_display_value("requested_by") == "Alice Moreau"
    assert gr.get_element("requested_by").get_link() is None  # pysnc excludes links
    assert not client.GlideRecord("change_request").get("0" * 32)


def test_pysnc_update_appends_a_work_note(
    client: ServiceNowClient, http: requests.Session, info: SandboxInfo
) -> None:
    gr = client.GlideRecord("change_request")
    assert gr.get(FIRST)
    mod_count = int(gr.get_value("sys_mod_count"))
    gr.work_notes = "[change-connector] findings: rollback plan missing"
    gr.update()
    # The PATCH response replaces the record: stamped at one-second precision, by the caller.
    assert gr.get_value("sys_updated_on") == "2026-11-20 08:30:15"
    assert gr.get_value("sys_updated_by") == "connector"
    assert int(gr.get_value("sys_mod_count")) == mod_count + 1
    assert gr.get_value("work_notes") == ""  # write-only: the value never reads back
    # The record's own journal field shows the entries as the form does, in the caller's zone.
    assert gr.get_display_value("work_notes") == (
        "2026-11-20 00:30:15 - Change Connector (Work notes)\n"
        "[change-connector] findings: rollback plan missing\n\n"
    )
    query = f"element_id={FIRST}^element=work_notes^ORDERBYsys_created_on"
    journal = table_url(info, "sys_journal_field")
    refused = http.get(journal, params={"sysparm_query": query})
    assert refused.status_code == 403  # an itil user does not read the journal table
    notes = requests.get(
        journal,
        params={"sysparm_query": query},
        auth=info.credentials("admin", "servicenow"),
        verify=info.ca_bundle,
        timeout=30,
    ).json()["result"]
    assert [n["value"] for n in notes] == ["[change-connector] findings: rollback plan missing"]
    assert notes[0]["sys_created_by"] == "connector"
    assert notes[0]["name"] == "change_request"
    assert notes[0]["sys_created_on"] == "2026-11-20 08:30:15"


def test_pysnc_queries_approvals_of_a_change(client: ServiceNowClient) -> None:
    gr = client.GlideRecord("sysapproval_approver")
    gr.add_query("sysapproval", FIRST)
    gr.query()
    rows = [
        (r.get_display_value("approver"), r.get_value("state"), r.get_display_value("group"))
        for r in gr
    ]
    # CHG0030001 is the planted self-approval: its requester approved it.
    assert rows == [("Alice Moreau", "approved", "Change approvers")]


def test_pysnc_insert(client: ServiceNowClient) -> None:
    gr = client.GlideRecord("change_request")
    gr.initialize()
    gr.short_description = "Created through pysnc"
    gr.type = "emergency"
    sys_id = gr.insert()
    assert sys_id and len(str(sys_id)) == 32
    assert gr.get_value("number") == "CHG0030201"
    assert gr.get_display_value("state") == "New"
    assert gr.get_value("sys_created_by") == "connector"


def test_wrong_password_is_401(info: SandboxInfo) -> None:
    bad = ServiceNowClient(
        info.servicenow_url, ("connector", "wrong"), verify=info.ca_bundle, auto_retry=False
    )
    with pytest.raises(AuthenticationException):
        bad.GlideRecord("change_request").query()
    bad.session.close()
    response = requests.get(table_url(info, "change_request"), verify=info.ca_bundle)
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "message": "User Not Authenticated",
            "detail": "Required to provide Auth information",
        },
        "status": "failure",
    }


# -- plain requests -----------------------------------------------------------------------------


def test_paging_headers(http: requests.Session, info: SandboxInfo) -> None:
    params = {"sysparm_query": "ORDERBYnumber", "sysparm_limit": "30", "sysparm_offset": "60"}
    response = http.get(table_url(info, "change_request"), params=params)
    # The seed, plus whatever this module's other tests inserted (in this process or not).
    every = {"sysparm_fields": "sys_id", "sysparm_limit": "10000"}
    total = len(http.get(table_url(info, "change_request"), params=every).json()["result"])
    assert total >= 200
    assert response.headers["X-Total-Count"] == str(total)
    links = dict(_parse_link(part) for part in response.headers["Link"].split(","))
    assert set(links) == {"first", "prev", "next", "last"}
    assert "sysparm_offset=90&sysparm_limit=30" in links["next"]
    assert "sysparm_offset=30&sysparm_limit=30" in links["prev"]
    assert "sysparm_offset=180&sysparm_limit=30" in links["last"]
    # Following `next` yields the next page.
    following = http.get(links["next"]).json()["result"]
    assert following[0]["number"] == "CHG0030091"
    quiet = http.get(
        table_url(info, "change_request"),
        params={**params, "sysparm_suppress_pagination_header": "true"},
    )
    assert "Link" not in quiet.headers and quiet.headers["X-Total-Count"] == str(total)


def _parse_link(part: str) -> tuple[str, str]:
    url, rel = part.split(";")
    return rel.split('"')[1], url.strip().strip("<>")


def test_fields_and_dot_walk(http: requests.Session, info: SandboxInfo) -> None:
    params = {
        "sysparm_query": f"sysapproval={FIRST}",
        "sysparm_fields": "approver.user_name,state,no_such_column",
    }
    result = http.get(table_url(info, "sysapproval_approver"), params=params).json()["result"]
    assert result == [{"approver.user_name": "alice", "state": "approved"}]


def test_display_value_shapes(http: requests.Session, info: SandboxInfo) -> None:
    url = table_url(info, "change_request", FIRST)
    fields = {"sysparm_fields": "state,requested_by,sys_created_on"}
    raw = http.get(url, params=fields).json()["result"]
    user = USERS_BY_LOGIN["alice"].sys_id
    link = f"{info.servicenow_url}/api/now/table/sys_user/{user}"
    assert raw["state"] == "-3"
    assert raw["requested_by"] == {"link": link, "value": user}
    created = raw["sys_created_on"]
    shown = http.get(url, params={**fields, "sysparm_display_value": "true"}).json()["result"]
    assert shown["state"] == "Authorize"
    assert shown["requested_by"] == {"display_value": "Alice Moreau", "link": link}
    # Display dates are in the caller's zone (connector: America/Los_Angeles), same format.
    stamp = datetime.strptime(created, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    local = stamp.astimezone(_zone("America/Los_Angeles")).strftime("%Y-%m-%d %H:%M:%S")
    assert shown["sys_created_on"] == local != created
    both = http.get(
        url,
        params={**fields, "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"},
    ).json()["result"]
    assert both["state"] == {"display_value": "Authorize", "value": "-3"}
    assert both["requested_by"] == {"display_value": "Alice Moreau", "value": user}
    bare = http.get(url, params={**fields, "sysparm_exclude_reference_link": "true"}).json()
    assert bare["result"]["requested_by"] == user


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_columns_of_a_real_record_exist(http: requests.Session, info: SandboxInfo) -> None:
    path = REFERENCE / "servicenow" / "change_request_CHG0000023.json"
    if not path.exists():
        pytest.skip("shared/reference is not available")
    real = set(json.loads(path.read_text())) - {"attachments"}
    for mode in ("false", "true", "all"):
        record = http.get(
            table_url(info, "change_request", FIRST), params={"sysparm_display_value": mode}
        ).json()["result"]
        assert real <= set(record), sorted(real - set(record))


def test_patch_semantics(http: requests.Session, info: SandboxInfo) -> None:
    url = table_url(info, "change_request", sys_id_for("change_request:CHG0030002"))
    before = http.get(url).json()["result"]
    same = http.patch(
        url,
        json={
            "short_description": before["short_description"],
            "u_not_a_column": "x",
            "sys_mod_count": "99",
        },
    )
    assert same.status_code == 200
    after = same.json()["result"]
    # Nothing changed: no write at all, so no new sys_mod_count or sys_updated_on.
    assert (after["sys_mod_count"], after["sys_updated_on"]) == (
        before["sys_mod_count"],
        before["sys_updated_on"],
    )
    assert "u_not_a_column" not in after
    changed = http.put(url, json={"risk": "1", "comments": "Visible to the requester"}).json()
    assert changed["result"]["risk"] == "1" and changed["result"]["comments"] == ""
    assert int(changed["result"]["sys_mod_count"]) == int(before["sys_mod_count"]) + 1
    assert changed["result"]["description"] == before["description"]


def test_errors(http: requests.Session, info: SandboxInfo) -> None:
    response = http.get(table_url(info, "no_such_table"))
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": "Invalid table no_such_table", "detail": None},
        "status": "failure",
    }
    missing = http.get(table_url(info, "change_request", "f" * 32))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No Record found"
    assert http.patch(table_url(info, "change_request", "f" * 32), json={}).status_code == 404


def test_reference_tables(http: requests.Session, info: SandboxInfo) -> None:
    users = http.get(
        table_url(info, "sys_user"), params={"sysparm_query": "user_name=connector"}
    ).json()["result"]
    assert users[0]["time_zone"] == "America/Los_Angeles"
    assert users[0]["sys_id"] == USERS_BY_LOGIN["connector"].sys_id
    groups = http.get(
        table_url(info, "sys_user_group"), params={"sysparm_query": "ORDERBYname"}
    ).json()["result"]
    assert [g["name"] for g in groups] == ["CAB", "Change approvers", "Emergency", "Security"]
    cis = http.get(table_url(info, "cmdb_ci"), params={"sysparm_query": "name=customer-db"})
    assert cis.json()["result"][0]["sys_class_name"] == "cmdb_ci_db_instance"

"""normalize(): sample Jira and ServiceNow payloads -> the expected Change, field by field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from site_fields import jira_default_mapping

from connector.core.errors import ConfigError, SkipRecord
from connector.core.mapping import Mapping, RawTicket, load_mapping, normalize, parse_mapping
from connector.core.model import (
    Approval,
    Audience,
    CabDecision,
    Change,
    ChangeClass,
    ChangeType,
    Decision,
    InfoSecCategory,
    Link,
    Outcome,
    Person,
    Risk,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.sandbox.catalog import USERS_BY_LOGIN, sys_id_for

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mapping"
JIRA_BASE = "https://jira.example.com"
SN_BASE = "https://example.service-now.com"
CLOUD = Source(instance="jira-cloud", kind=SystemKind.JIRA_CLOUD)
DATACENTER = Source(instance="jira-dc", kind=SystemKind.JIRA_DATACENTER)
SN = Source(instance="sn", kind=SystemKind.SERVICENOW)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def jira_mapping() -> Mapping:
    return jira_default_mapping()


@pytest.fixture(scope="module")
def sn_mapping() -> Mapping:
    return load_mapping(ROOT / "mappings" / "servicenow-default.toml")


def cloud_person(login: str) -> Person:
    user = USERS_BY_LOGIN[login]
    return Person(id=user.account_id, name=user.display_name, email=user.email)


def sn_person(login: str, with_name: bool) -> Person:
    user = USERS_BY_LOGIN[login]
    return Person(id=user.sys_id, name=user.display_name if with_name else "")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def jira(name: str, mapping: Mapping, source: Source = CLOUD) -> Change:
    return normalize(fixture(name), mapping=mapping, source=source, base_url=JIRA_BASE + "/")


def sn(name: str, rows: str, mapping: Mapping) -> Change:
    raw = RawTicket(fixture(name), {"sysapproval_approver": fixture(rows)})
    return normalize(raw, mapping=mapping, source=SN, base_url=SN_BASE)


def test_jira_v2_issue(jira_mapping: Mapping) -> None:
    c = jira("jira_issue_v2.json", jira_mapping)
    assert (c.key, c.native_id, c.source) == ("CHG-12", "10123", CLOUD)
    assert c.url == f"{JIRA_BASE}/browse/CHG-12"
    assert c.title == "Déploiement du correctif ✓ sur payments-api"
    assert c.description == (
        "Context\nBold claim and emphasis; snake_case_name here.\nclick me\n"
        "Ping @712020:deadbeef — naïve café ✓ 数据库 on 2026-11-21\nx = *not bold*\n"
        "- bullet one\n- bullet two"
    )
    assert c.change_type is ChangeType.NORMAL
    assert c.change_class is ChangeClass.MAJOR
    assert c.risk is Risk.HIGH
    assert c.affected_systems == ("auth-service", "payments-api")
    assert c.affected_services == ("payments", "checkout")
    assert c.departments == ("Finance", "Engineering")
    assert c.rollback_plan == "Redeploy the previous payments-api build."
    assert c.implementation_plan == "- Drain\n- Deploy\n- Verify"
    assert c.test_plan == "Smoke tests and synthetic checks."
    assert c.justification == "Keeps the platform supported."
    assert c.security == SecurityImpact(
        level=SecurityLevel.MEDIUM,
        categories=(InfoSecCategory.USER_ACCESS, InfoSecCategory.DATA_SHARING),
        notes="Reviewed by the security team.",
    )
    assert c.operational_impact == "Brief API latency."
    assert c.expected_downtime_minutes == 15.0
    assert c.customer_facing is True
    assert c.audiences == (Audience.ALL_USERS, Audience.ADMINS)
    # Jira sends the API user's offset (+0100); the model keeps UTC.
    assert c.planned_start == utc(2026, 11, 21, 9, 0)
    assert c.planned_end == utc(2026, 11, 21, 11, 0)
    assert c.actual_start is None and c.actual_end is None
    assert c.requester == cloud_person("alice")
    assert c.assignee == cloud_person("bob")
    assert c.implementer == cloud_person("bob")
    assert c.emergency_approver is None
    assert c.standard_template == ""
    assert c.approvals == (
        Approval(approver=cloud_person("carol"), group="CAB", decision=Decision.APPROVED),
        Approval(approver=cloud_person("dave"), group="CAB", decision=Decision.PENDING),
    )
    assert c.cab_decision is None
    assert (c.status, c.native_status) == (Status.AWAITING_APPROVAL, "Awaiting Approval")
    assert c.release == "2026.11.1"
    assert c.labels == ("payments", "q4")
    assert c.links == (
        Link(relation="blocks", target="CHG-7", url=f"{JIRA_BASE}/browse/CHG-7"),
        Link(relation="is blocked by", target="OPS-3", url=f"{JIRA_BASE}/browse/OPS-3"),
    )
    assert c.created == utc(2026, 11, 1, 8, 30)
    assert c.updated == datetime(2026, 11, 3, 15, 45, 12, 345000, tzinfo=UTC)


def test_jira_v3_issue_with_adf(jira_mapping: Mapping) -> None:
    c = jira("jira_issue_v3_adf.json", jira_mapping)
    assert c.key == "CHG-13"
    assert c.description == (
        "Context\nBold claim and a link — naïve café ✓ @Alice Moreau\n🚀\n"
        "- bullet one\n- bullet two\n  - nested\nrm -rf /tmp/x\nstep | owner\nrotate | bob"
    )
    assert c.rollback_plan == "Restore the snapshot."
    assert c.implementation_plan == "- Apply the change."
    assert c.test_plan == "Run the smoke suite."
    assert c.justification == ""  # null
    assert c.operational_impact == ""  # an empty ADF document
    assert c.security == SecurityImpact(level=SecurityLevel.NONE)
    assert c.customer_facing is False
    assert c.audiences == ()
    assert c.cab_decision is CabDecision.APPROVE
    assert c.approvals == (
        Approval(
            approver=cloud_person("carol"),
            group="Change approvers",
            decision=Decision.APPROVED,
            decided_at=utc(2026, 11, 3, 15, 30),
        ),
    )
    assert (c.status, c.native_status) == (Status.APPROVED, "Approved")
    assert c.links == () and c.labels == ()


def test_jira_datacenter_issue(jira_mapping: Mapping) -> None:
    c = jira("jira_issue_datacenter.json", jira_mapping, DATACENTER)
    assert (c.key, c.native_id, c.source.kind) == ("OPS-4", "10300", SystemKind.JIRA_DATACENTER)
    assert c.change_type is ChangeType.EMERGENCY
    assert c.change_class is ChangeClass.MINOR
    assert c.risk is Risk.VERY_HIGH
    # Data Center users are identified by user name.
    assert c.requester == Person(id="bob", name="Bob Okafor", email="bob@example.com")
    assert c.assignee is None
    assert c.implementer == Person(id="alice", name="Alice Moreau", email="alice@example.com")
    assert c.emergency_approver is not None and c.emergency_approver.id == "frank"
    assert c.rollback_plan == "Roll back the firmware.\nThen reboot."  # wiki \\ line break
    # Nulls, empty lists and absent keys give the model's defaults.
    assert c.description == "" and c.affected_systems == () and c.labels == ()
    assert c.security == SecurityImpact() and not c.security.assessed
    assert c.expected_downtime_minutes == 0.0
    assert c.release == "" and c.approvals == ()
    assert c.planned_start == utc(2026, 10, 28, 12, 0)
    assert c.actual_start == utc(2026, 10, 28, 12, 5)
    assert c.status is Status.IMPLEMENTING


def test_servicenow_display_value_all(sn_mapping: Mapping) -> None:
    c = sn("servicenow_change_all.json", "servicenow_approvals_all.json", sn_mapping)
    sys_id = sys_id_for("change_request:CHG0030001")
    assert (c.key, c.native_id) == ("CHG0030001", sys_id)
    assert c.url == f"{SN_BASE}/nav_to.do?uri=change_request.do?sys_id={sys_id}"
    assert c.title == "Rotate TLS certificates on auth-service"
    assert c.description == (
        "Plain text with emoji 🚀 and quotes \"double\" 'single'.\n<b>html</b> stays text."
    )
    assert c.change_type is ChangeType.NORMAL
    assert c.change_class is ChangeClass.MAJOR  # impact 1
    assert c.risk is Risk.HIGH  # risk 2
    assert c.affected_systems == ("auth-service", "customer-db")
    assert c.affected_services == ("auth-service",)
    assert c.departments == ("Security", "Engineering")
    assert c.rollback_plan == "Restore the previous certificates."
    assert c.implementation_plan == "1. Drain\n2. Deploy\n3. Verify"
    assert c.test_plan == "Smoke tests."
    assert c.justification == "Certificates expire on 2026-12-01."
    assert c.operational_impact == "Short read-only period."
    assert c.security == SecurityImpact(
        level=SecurityLevel.HIGH,
        categories=(InfoSecCategory.SECURITY_CONFIGURATION, InfoSecCategory.USER_ACCESS),
        notes="Reviewed by the security team.",
    )
    assert c.expected_downtime_minutes == 5.0
    assert c.customer_facing is True
    assert c.audiences == (Audience.ALL_USERS, Audience.SECURITY)
    # Values are UTC; the display values (user's zone) are not used.
    assert c.planned_start == utc(2026, 11, 21, 10, 0)
    assert c.planned_end == utc(2026, 11, 21, 12, 0)
    assert c.actual_start is None and c.actual_end is None
    assert c.requester == sn_person("alice", with_name=True)
    assert c.assignee == c.implementer == sn_person("bob", with_name=True)
    assert c.emergency_approver is None
    # Approval rows: this change's only, ordered by creation then sys_id.
    assert c.approvals == (
        Approval(
            approver=sn_person("carol", with_name=True),
            group="CAB",
            decision=Decision.APPROVED,
            decided_at=utc(2026, 11, 4, 9, 0),
        ),
        Approval(
            approver=sn_person("erin", with_name=True),
            group="Security",
            decision=Decision.APPROVED,
            decided_at=utc(2026, 11, 4, 9, 15),
        ),
    )
    assert c.cab_decision is None
    assert (c.status, c.native_status) == (Status.APPROVED, "-3")  # rule: Authorize + approved
    assert c.release == "2026.12.1"
    assert c.created == utc(2026, 11, 2, 8, 0)
    assert c.updated == utc(2026, 11, 4, 9, 15, 30)


def test_servicenow_plain_values(sn_mapping: Mapping) -> None:
    c = sn("servicenow_change_plain.json", "servicenow_approvals_plain.json", sn_mapping)
    assert (c.key, c.native_id) == ("CHG0030002", sys_id_for("change_request:CHG0030002"))
    assert c.description == "数据库 failover drill — naïve café ✓"
    assert c.change_type is ChangeType.EMERGENCY
    assert c.change_class is ChangeClass.MINOR  # impact 2, via "*"
    assert c.risk is Risk.LOW
    # Without display values, a glide_list only has sys_ids.
    assert c.affected_systems == (sys_id_for("cmdb_ci:customer-db"),)
    assert c.affected_services == ()
    assert c.security == SecurityImpact()  # "" = not assessed
    assert c.customer_facing is False
    assert c.audiences == (Audience.ENGINEERING,)
    assert c.expected_downtime_minutes == 30.0
    # requested_by is empty: the requester falls back to opened_by.
    assert c.requester == sn_person("bob", with_name=False)
    assert c.assignee == sn_person("alice", with_name=False)
    assert c.emergency_approver == sn_person("frank", with_name=False)
    assert c.approvals == (
        Approval(
            approver=sn_person("dave", with_name=False),
            group=sys_id_for("sys_user_group:CAB"),
            decision=Decision.REJECTED,
            decided_at=utc(2026, 11, 12, 17, 20),
            comment="Declined: window too close to quarter end",
        ),
    )
    assert c.cab_decision is CabDecision.REJECT  # "Reject", matched ignoring case
    assert (c.status, c.native_status) == (Status.REJECTED, "-5")  # rule: approval rejected
    assert c.planned_start == utc(2026, 12, 20, 22, 0)


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"state": "-1"}, Status.IMPLEMENTING),
        ({"state": "3"}, Status.CLOSED),
        ({"state": "-3", "approval": "requested"}, Status.AWAITING_APPROVAL),
        ({"state": "-3", "approval": "approved"}, Status.APPROVED),
        ({"state": "-2", "on_hold": "true"}, Status.AWAITING_INFO),
        ({"state": "-2", "approval": "rejected", "on_hold": "true"}, Status.REJECTED),
    ],
)
def test_servicenow_status_rules(
    sn_mapping: Mapping, changes: dict[str, str], status: Status
) -> None:
    record = {**fixture("servicenow_change_plain.json"), "approval": "approved", **changes}
    assert normalize(record, mapping=sn_mapping, source=SN, base_url=SN_BASE).status is status


def test_servicenow_free_text_cab_recommendation_is_ignored(sn_mapping: Mapping) -> None:
    record = {**fixture("servicenow_change_plain.json"), "cab_recommendation": "Looks fine to me"}
    change = normalize(record, mapping=sn_mapping, source=SN, base_url=SN_BASE)
    assert change.cab_decision is None


# ---- outcome: how a closed change went, from the Jira resolution or the ServiceNow close code ----


def resolution(name: str) -> dict[str, str]:
    """A resolution as Jira renders it (REST v2 and v3 alike)."""
    return {
        "self": f"{JIRA_BASE}/rest/api/2/resolution/10000",
        "id": "10000",
        "description": "",
        "name": name,
    }


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        (resolution("Done"), Outcome.SUCCESSFUL),
        (resolution("Failed"), Outcome.FAILED),
        (resolution("Rolled back"), Outcome.ROLLED_BACK),
        (resolution("rolled back"), Outcome.ROLLED_BACK),  # keys also match ignoring case
        (resolution("Won't Do"), None),  # never carried out: no outcome
        (resolution("Declined"), None),
        (resolution("Duplicate"), None),  # "*" catches resolutions the map does not name
        (None, None),  # unresolved
    ],
)
def test_jira_outcome_from_resolution(
    jira_mapping: Mapping, raw: dict[str, str] | None, outcome: Outcome | None
) -> None:
    issue = fixture("jira_issue_v2.json")
    issue["fields"]["resolution"] = raw
    change = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    assert change.outcome == outcome


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        ("successful", Outcome.SUCCESSFUL),
        ("successful_issues", Outcome.SUCCESSFUL),
        ("unsuccessful", Outcome.FAILED),
        ({"display_value": "Unsuccessful", "value": "unsuccessful"}, Outcome.FAILED),
        (
            {"display_value": "Successful with issues", "value": "successful_issues"},
            Outcome.SUCCESSFUL,
        ),
        ("", None),
        ({"display_value": "", "value": ""}, None),
        ("u_partial", None),  # an instance's own close code, not in the map: "*"
    ],
)
def test_servicenow_outcome_from_close_code(
    sn_mapping: Mapping, raw: Any, outcome: Outcome | None
) -> None:
    record = {**fixture("servicenow_change_plain.json"), "state": "3", "close_code": raw}
    change = normalize(record, mapping=sn_mapping, source=SN, base_url=SN_BASE)
    assert change.outcome == outcome


def test_fixtures_without_an_outcome(jira_mapping: Mapping, sn_mapping: Mapping) -> None:
    authorize = sn("servicenow_change_all.json", "servicenow_approvals_all.json", sn_mapping)
    assert authorize.outcome is None  # close_code is {"value": "", "display_value": ""}
    assert jira("jira_issue_v2.json", jira_mapping).outcome is None  # resolution is null


def test_outcome_is_part_of_the_fingerprint(jira_mapping: Mapping) -> None:
    issue = fixture("jira_issue_v2.json")
    issue["fields"]["resolution"] = resolution("Done")
    done = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    issue["fields"]["resolution"] = resolution("Rolled back")
    rolled_back = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    assert done.outcome is Outcome.SUCCESSFUL and rolled_back.outcome is Outcome.ROLLED_BACK
    assert done.fingerprint() != rolled_back.fingerprint()
    assert Change.from_json(rolled_back.to_json()) == rolled_back


# ---- records the mapping cannot convert are skipped, with one line naming key, field, value ----


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("customfield_10101", {"value": "Extreme", "id": "1"}, "'Extreme' is not in the map"),
        ("customfield_10116", "next tuesday", "unparsable date-time 'next tuesday'"),
        ("customfield_10113", "lots", "'lots' is not valid: expected a number"),
        ("customfield_10113", -5.0, "'-5' is not valid: expected a number"),  # ge=0
        ("reporter", {"displayName": "Nobody"}, "user has no accountId or name"),
        ("status", {"name": "Limbo"}, "'Limbo' is not in the map (add it to status.map)"),
    ],
)
def test_unconvertible_values_skip_the_record(
    jira_mapping: Mapping, field: str, value: Any, words: str
) -> None:
    issue = fixture("jira_issue_v2.json")
    issue["fields"][field] = value
    with pytest.raises(SkipRecord) as caught:
        normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("CHG-12: ")
    assert f"({field})" in message  # the raw field, next to the Change attribute
    assert words in message


def test_planned_window_backwards_skips_the_record(jira_mapping: Mapping) -> None:
    issue = fixture("jira_issue_v2.json")
    issue["fields"]["customfield_10117"] = "2026-11-20T10:00:00.000+0100"
    with pytest.raises(SkipRecord, match=r"^CHG-12: planned_end: .*ends before it starts"):
        normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)


def test_ticket_without_key_is_skipped(jira_mapping: Mapping) -> None:
    issue = fixture("jira_issue_v2.json")
    del issue["key"]
    with pytest.raises(SkipRecord, match=r"^10123: ticket has no 'key'"):
        normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)


def test_mapping_and_source_of_different_systems(jira_mapping: Mapping) -> None:
    with pytest.raises(ConfigError):
        normalize(fixture("jira_issue_v2.json"), mapping=jira_mapping, source=SN, base_url="x")


def test_field_default_and_source_fallback() -> None:
    mapping = parse_mapping(
        {
            **load_mapping(FIXTURES / "minimal_jira.toml").model_dump(exclude_defaults=True),
            "fields": {
                "created": {"source": "created", "converter": "datetime"},
                "updated": {"source": "updated", "converter": "datetime"},
                "risk": {"source": "customfield_10101", "converter": "option", "default": "low"},
                "title": {"source": ["customfield_9", "summary"], "converter": "text"},
                "release": {"source": "fixVersions.1.name", "converter": "text"},
            },
        }
    )
    issue = fixture("jira_issue_v2.json")
    issue["fields"]["customfield_10101"] = None
    change = normalize(issue, mapping=mapping, source=CLOUD, base_url=JIRA_BASE)
    assert change.risk is Risk.LOW
    assert change.title.startswith("Déploiement")
    assert change.release == "2026.11.2"  # a dotted path with a list index


# ---- fingerprint and JSON ---------------------------------------------------------------------


def test_fingerprint_equal_for_equal_content(jira_mapping: Mapping) -> None:
    a = jira("jira_issue_v2.json", jira_mapping)
    b = jira("jira_issue_v2.json", jira_mapping)
    assert a == b and a.fingerprint() == b.fingerprint()


def test_fingerprint_ignores_updated_only(jira_mapping: Mapping) -> None:
    issue = fixture("jira_issue_v2.json")
    before = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    issue["fields"]["updated"] = "2026-11-05T08:00:00.000+0100"
    touched = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    assert touched.updated != before.updated
    assert touched.fingerprint() == before.fingerprint()
    issue["fields"]["customfield_10105"] = ""  # the rollback plan, which policy reads
    changed = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    assert changed.fingerprint() != before.fingerprint()


def test_fingerprint_stable_across_api_user_time_zones(jira_mapping: Mapping) -> None:
    issue = fixture("jira_issue_v2.json")
    paris = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    issue["fields"]["customfield_10116"] = "2026-11-21T01:00:00.000-0800"  # same instant
    la = normalize(issue, mapping=jira_mapping, source=CLOUD, base_url=JIRA_BASE)
    assert la.fingerprint() == paris.fingerprint()


def test_servicenow_fingerprint_ignores_approval_row_order(sn_mapping: Mapping) -> None:
    record, rows = fixture("servicenow_change_all.json"), fixture("servicenow_approvals_all.json")
    a = normalize(
        RawTicket(record, {"sysapproval_approver": rows}),
        mapping=sn_mapping,
        source=SN,
        base_url=SN_BASE,
    )
    b = normalize(
        RawTicket(record, {"sysapproval_approver": rows[::-1]}),
        mapping=sn_mapping,
        source=SN,
        base_url=SN_BASE,
    )
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.parametrize(
    "name",
    ["jira_issue_v2.json", "jira_issue_v3_adf.json", "jira_issue_datacenter.json"],
)
def test_json_round_trip(jira_mapping: Mapping, name: str) -> None:
    change = jira(name, jira_mapping)
    again = Change.from_json(change.to_json())
    assert again == change
    assert again.fingerprint() == change.fingerprint()


def test_json_round_trip_servicenow(sn_mapping: Mapping) -> None:
    change = sn("servicenow_change_all.json", "servicenow_approvals_all.json", sn_mapping)
    assert Change.from_json(change.to_json()) == change

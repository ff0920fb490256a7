"""normalize() on real public payloads from ../shared/reference (skipped when it is absent)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.core.mapping import load_mapping, normalize
from connector.core.model import ChangeClass, ChangeType, Person, Risk, Source, Status, SystemKind

ROOT = Path(__file__).parents[2]
REFERENCE = Path(__file__).parents[3] / "shared" / "reference"

pytestmark = pytest.mark.reference


def reference(*parts: str) -> Any:
    path = REFERENCE.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return json.loads(path.read_text(encoding="utf-8"))


def test_jira_cloud_webhook_issue() -> None:
    issue = reference("jira-webhooks", "issue_created_with_custom_fields.json")["issue"]
    mapping = load_mapping(ROOT / "tests" / "fixtures" / "mapping" / "jira_reference_adhoc.toml")
    source = Source(instance="cloud", kind=SystemKind.JIRA_CLOUD)
    base = "https://shettypritesh16.atlassian.net"
    change = normalize(issue, mapping=mapping, source=source, base_url=base)
    assert (change.key, change.native_id) == ("KAN-3", "10033")
    assert change.url == f"{base}/browse/KAN-3"
    assert change.title == "This is test files"
    assert change.description == ""
    assert change.justification == "Testing"
    assert change.risk is Risk.MODERATE
    assert change.requester == Person(
        id="712020:28d10afc-d4b0-47f2-b86f-74d9a5f29c81", name="Pritesh Shetty"
    )
    assert change.assignee is None
    assert change.release == "r4"
    assert change.affected_services == () and change.labels == () and change.links == ()
    assert (change.status, change.native_status) == (Status.DRAFT, "To Do")
    # 18:35:13.605+0530 -> UTC
    assert change.created == datetime(2026, 4, 25, 13, 5, 13, 605000, tzinfo=UTC)


def test_servicenow_change_request_plain() -> None:
    record = reference("servicenow", "change_request_CHG0000023.json")
    mapping = load_mapping(ROOT / "mappings" / "servicenow-default.toml")
    source = Source(instance="sn", kind=SystemKind.SERVICENOW)
    change = normalize(record, mapping=mapping, source=source, base_url="https://www.example.com")
    assert (change.key, change.native_id) == ("CHG0000023", "70ad699e47410200e90d87e8dee4907d")
    assert change.title == "Decommission server"
    assert change.description == "Decommission a server"
    assert change.change_type is ChangeType.STANDARD
    assert change.change_class is ChangeClass.MINOR  # impact 3
    assert change.risk is Risk.MODERATE  # risk 3
    assert (change.status, change.native_status) == (Status.CLOSED, "3")
    assert change.implementation_plan == "Implementation plan"
    assert change.test_plan == "Test plan"
    assert change.rollback_plan == ""
    assert change.requester == Person(id="6816f79cc0a8016401c5a33be04be441")
    assert change.assignee is None and change.implementer is None
    assert change.standard_template == "deb8544047810200e90d87e8dee490af"  # plain form: sys_id
    assert change.affected_services == ()
    assert change.planned_start is None
    assert change.actual_start == datetime(2015, 7, 6, 18, 17, 41, tzinfo=UTC)
    assert change.actual_end == datetime(2015, 7, 6, 18, 18, 34, tzinfo=UTC)
    assert change.created == datetime(2015, 7, 6, 18, 17, 22, tzinfo=UTC)
    assert change.updated == datetime(2015, 7, 6, 18, 18, 53, tzinfo=UTC)
    assert change.approvals == () and change.cab_decision is None
    assert change.customer_facing is False and not change.security.assessed

"""Real published Jira and ServiceNow bodies (tests/fixtures/real, sources in its README):
normalized through a mapping, and paged with the paginators the adapters use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.core.errors import SkipRecord
from connector.core.mapping import load_mapping, normalize
from connector.core.model import ChangeClass, ChangeType, Person, Risk, Source, Status, SystemKind
from connector.core.paging import OffsetPaginator, TokenPaginator

ROOT = Path(__file__).parents[2]
REAL = ROOT / "tests" / "fixtures" / "real"
MAPPINGS = ROOT / "tests" / "fixtures" / "mapping"
CLOUD = Source(instance="cloud", kind=SystemKind.JIRA_CLOUD)
DATACENTER = Source(instance="dc", kind=SystemKind.JIRA_DATACENTER)
SNOW = Source(instance="sn", kind=SystemKind.SERVICENOW)


def real(*parts: str) -> Any:
    return json.loads(REAL.joinpath(*parts).read_text(encoding="utf-8"))


def test_every_fixture_is_listed_in_the_readme_with_its_source() -> None:
    readme = (REAL / "README.md").read_text(encoding="utf-8")
    files = sorted(p.relative_to(REAL).as_posix() for p in REAL.rglob("*.json"))
    assert len(files) >= 12
    for name in files:
        row = next((line for line in readme.splitlines() if f"`{name}`" in line), None)
        assert row is not None, f"{name} is not in tests/fixtures/real/README.md"
        assert "@" in row and "|" in row, f"{name}: its README row names no source commit"


# -- Jira issues -----------------------------------------------------------------------------


def _jira(issue: dict[str, Any], source: Source = CLOUD) -> Any:
    mapping = load_mapping(MAPPINGS / "jira_real_fixtures.toml")
    return normalize(issue, mapping=mapping, source=source, base_url="https://jira.example.test")


def test_cloud_webhook_issue_status_change() -> None:
    change = _jira(real("jira-webhooks", "issue_updated__status.json")["issue"])
    assert (change.key, change.native_id) == ("TEST-1", "10000")
    assert (change.title, change.description) == ("Fix That", "Fix That")
    assert (change.status, change.native_status) == (Status.IMPLEMENTING, "In Progress")
    # The user carries both forms: accountId (Cloud) wins over name/key (Server).
    assert change.requester == Person(
        id="99:b8d8a054-2e12-4839-bd5f-5f2b7c5f5e3a",
        name="James Williams",
        email="kolaszek@tlen.pl",
    )
    assert change.assignee is None and change.expected_downtime_minutes is None
    assert change.updated == datetime(2017, 1, 30, 17, 32, 14, 716000, tzinfo=UTC)


def test_deleted_issue_snapshot_from_a_self_hosted_site() -> None:
    body = real("jira-webhooks", "issue_deleted.json")
    assert (body["webhookEvent"], body["issue_event_type_name"]) == (
        "jira:issue_deleted",
        "issue_deleted",
    )
    change = _jira(body["issue"], DATACENTER)
    assert (change.key, change.title, change.status) == (
        "BUG-15",
        "New bug with hook",
        Status.DRAFT,
    )
    assert change.assignee == change.requester
    assert change.created == datetime(2013, 3, 27, 16, 53, 58, 301000, tzinfo=UTC)


def test_agile_page_issue_with_number_custom_field_and_user_names() -> None:
    """A 2016 site: users carry `name`/`key` (no accountId), story points are a JSON number."""
    page = real("jira-cloud", "agile_sprint_issues.json")
    issue = page["issues"][0]
    assert issue["fields"]["customfield_11200"] == "0|0zzzzd:vi"  # Rank: a string, not a date
    change = _jira(issue)
    assert (change.key, change.native_id, change.title) == ("AR-86", "12338", "")
    assert change.expected_downtime_minutes == 13
    assert change.assignee == Person(
        id="mister.morris", name="mister Morris", email="mister.morris@uservoice.com"
    )
    assert (change.status, change.native_status) == (Status.DRAFT, "Ready")
    assert change.created == datetime(2015, 12, 2, 15, 39, 15, tzinfo=UTC)


# -- ServiceNow ------------------------------------------------------------------------------


def _snow_record() -> dict[str, Any]:
    record: dict[str, Any] = real("servicenow", "change_request_from_template_display.json")[
        "result"
    ]
    return record


def test_servicenow_change_with_display_values() -> None:
    mapping = load_mapping(MAPPINGS / "servicenow_real_display.toml")
    change = normalize(
        _snow_record(), mapping=mapping, source=SNOW, base_url="https://acme.service-now.com"
    )
    assert (change.key, change.native_id) == ("CHG0031889", "11ab5ccfdb784d505da401a3ca96190a")
    assert change.title == "Add network switch to cabinet"
    assert change.change_type is ChangeType.STANDARD
    assert (change.risk, change.change_class) == (Risk.MODERATE, ChangeClass.MINOR)
    # The display value is kept as the instance renders it, trailing space included.
    assert change.requester == Person(
        id="46428af1db202c1026fca015ca961994", name="Content Test admin "
    )
    # A standard change's template shows as "<template name> - <version>".
    assert change.standard_template == "Add network switch to datacenter cabinet - 1"
    assert change.rollback_plan.startswith("-- Physically remove switch")
    assert change.planned_start is None
    assert change.created == datetime(2022, 1, 6, 12, 12, 43, tzinfo=UTC)  # the value, UTC
    assert change.status is Status.DRAFT


def test_servicenow_numbers_where_the_table_api_sends_strings_are_skipped_clearly() -> None:
    """The Change Management API sends risk 3.0; the default mapping (Table API) expects "3"."""
    mapping = load_mapping(ROOT / "mappings" / "servicenow-default.toml")
    with pytest.raises(SkipRecord, match=r"CHG0031889: fields\.risk \(risk\): value '3\.0'"):
        normalize(_snow_record(), mapping=mapping, source=SNOW, base_url="https://x")


# -- paging real pages -----------------------------------------------------------------------


def test_cloud_search_page_without_token_is_the_last() -> None:
    page = real("jira-cloud", "search_jql_page.json")
    assert "nextPageToken" not in page
    pages = TokenPaginator()
    pages.advance(next_token=page.get("nextPageToken"), received=len(page["issues"]))
    assert pages.finished


def test_datacenter_short_page_is_not_the_last() -> None:
    """2 issues at startAt=1 with maxResults=40 and total=6: more follow at startAt=3."""
    page = real("jira-datacenter", "search_page.json")
    assert len(page["issues"]) < page["maxResults"]
    pages = OffsetPaginator(offset=page["startAt"])
    pages.advance(received=len(page["issues"]), total=page["total"], start_at=page["startAt"])
    assert (pages.offset, pages.finished) == (3, False)


def test_comment_and_option_pages_end_at_their_total() -> None:
    comments = real("jira-cloud", "comments_page.json")
    options = real("jira-cloud", "field_context_options.json")
    for page, items in ((comments, "comments"), (options, "values")):
        pages = OffsetPaginator()
        pages.advance(received=len(page[items]), total=page["total"], start_at=page["startAt"])
        assert pages.finished, items

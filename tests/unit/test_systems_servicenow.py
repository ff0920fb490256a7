"""ServiceNow adapter over mocked HTTP (`responses`): status hook, work-note tags, state writes."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.core.errors import ConfigError, PermanentError, TicketDeleted, TransientError
from connector.settings import SourceSettings
from connector.systems.http import RetryPolicy
from connector.systems.servicenow import ServiceNowAdapter, glide_datetime
from connector.systems.servicenow_journal import marker_tag, refreshed, remember

URL = "https://acme.service-now.test"
TABLE = f"{URL}/api/now/table"
TOKEN = "s3cret-snow-token-value"
SYS_ID = "a" * 32


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def snow(sleeps: Sleeps) -> Iterator[ServiceNowAdapter]:
    source = SourceSettings(
        kind="servicenow", url=URL, username="bot", token=SecretStr(TOKEN), mapping=Path("m")
    )
    adapter = ServiceNowAdapter(
        "acme-snow", source, policy=RetryPolicy(sleep=sleeps, rng=random.Random(5))
    )
    yield adapter
    adapter.close()


def cell(value: str) -> dict[str, str]:
    return {"value": value, "display_value": value}


def result(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"json": {"result": rows}, "headers": {"X-Total-Count": str(len(rows))}}


def change(state: str = "-3") -> dict[str, Any]:
    return {"sys_id": cell(SYS_ID), "number": cell("CHG0030001"), "state": cell(state)}


def test_429_is_retried_after_retry_after(
    snow: ServiceNowAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mock.get(f"{TABLE}/change_request", status=429, headers={"Retry-After": "2"}, json={})
    mock.get(f"{TABLE}/change_request", **result([change()]))
    assert snow.get_change(SYS_ID) is not None
    assert sleeps == [2.0]


def test_429_without_headers_is_still_transient(
    snow: ServiceNowAdapter, mock: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mock.get(f"{TABLE}/change_request", status=429, json={})
    with pytest.raises(TransientError, match="acme-snow: GET change_request: ServiceNow answered"):
        snow.get_change(SYS_ID)
    assert len(mock.calls) == 6 and len(sleeps) == 5


def test_401_is_config_error_without_the_token(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    body = {"error": {"message": "User Not Authenticated"}, "status": "failure"}
    mock.get(f"{TABLE}/change_request", status=401, json=body)
    with pytest.raises(ConfigError) as info:
        snow.get_change(SYS_ID)
    assert "credentials" in str(info.value) and TOKEN not in str(info.value)
    assert len(mock.calls) == 1


def test_invalid_table_is_permanent(snow: ServiceNowAdapter, mock: responses.RequestsMock) -> None:
    body = {"error": {"message": "Invalid table change_request"}, "status": "failure"}
    mock.get(f"{TABLE}/change_request", status=400, json=body)
    with pytest.raises(PermanentError, match="Invalid table change_request"):
        snow.columns()
    assert len(mock.calls) == 1


def _text(body: object) -> str:
    return body.decode() if isinstance(body, bytes) else str(body or "{}")


class FakeJournal:
    """change_request PATCH appends a journal entry; the record's journal fields read back as
    display values, newest entry first, in the shape a real instance renders; the first
    PATCH answer may be lost."""

    def __init__(self, mock: responses.RequestsMock, *, drop_first: bool) -> None:
        self.entries: list[dict[str, str]] = []
        self.patches = 0
        self.reads: list[str] = []
        self.drop_first = drop_first
        mock.add_callback(responses.PATCH, f"{TABLE}/change_request/{SYS_ID}", callback=self.patch)
        mock.add_callback(responses.GET, f"{TABLE}/change_request/{SYS_ID}", callback=self.get)

    def patch(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.patches += 1
        for element, value in json.loads(_text(request.body)).items():
            self.entries.append({"element": element, "v": value})
        if self.drop_first and self.patches == 1:
            raise requests.exceptions.ConnectionError("connection reset after apply")
        return 200, {}, json.dumps({"result": {"sys_id": SYS_ID}})

    def get(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = unquote(str(request.url))
        self.reads.append(url)
        assert "sysparm_display_value=true" in url
        assert "sysparm_fields=sys_id,work_notes,comments" in url
        label = {"work_notes": "Work notes", "comments": "Additional comments"}
        row = {"sys_id": SYS_ID}
        for element in ("work_notes", "comments"):
            row[element] = "".join(
                f"2026-11-20 0{n}:30:15 - Change Connector ({label[element]})\n{e['v']}\n\n"
                for n, e in reversed(list(enumerate(self.entries)))
                if e["element"] == element
            )
        return 200, {}, json.dumps({"result": row})


def test_work_note_whose_answer_is_lost_is_not_repeated(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    journal = FakeJournal(mock, drop_first=True)
    note_id = snow.add_work_note(SYS_ID, text="Findings: rollback plan missing.", marker="f00d")
    assert journal.patches == 1 and len(journal.entries) == 1
    assert journal.entries[0]["element"] == "work_notes"
    assert journal.entries[0]["v"].endswith("\n\n[cc:f00d]")
    assert note_id == f"{SYS_ID}/work_notes/f00d"
    reads = len(journal.reads)
    assert snow.find_work_note(SYS_ID, "f00d") == note_id
    assert snow.find_work_note(SYS_ID, "beef") is None
    assert len(journal.reads) == reads  # the journal read after the write answers both
    assert not [c for c in mock.calls if "sys_journal_field" in str(c.request.url)]


def test_customer_visible_note_goes_to_comments(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    journal = FakeJournal(mock, drop_first=False)
    ref = snow.add_work_note(
        SYS_ID, text="Scheduled for Friday.", marker="c1", customer_visible=True
    )
    assert [e["element"] for e in journal.entries] == ["comments"]
    assert ref == f"{SYS_ID}/comments/c1"


def test_a_page_of_changes_answers_marker_checks_without_a_call(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    """The page carries each change's journal fields; confirmed writes add their markers; a
    write whose answer is lost makes the next check read the record."""
    row = {
        **change(),
        "sys_updated_on": cell("2026-11-20 08:00:00"),
        "work_notes": {
            "value": "",
            "display_value": "2026-11-20 08:00:00 - Change Connector "
            "(Work notes)\nFindings\n\n[cc:f-1]\n\n",
        },
        "comments": {"value": "", "display_value": ""},
    }
    mock.get(f"{TABLE}/change_request", **result([row]))
    mock.get(f"{TABLE}/change_request", **result([]))
    assert [r["sys_id"]["value"] for r in snow.changes()] == [SYS_ID]
    calls = len(mock.calls)
    assert snow.find_work_note(SYS_ID, "f-1") == f"{SYS_ID}/work_notes/f-1"
    assert snow.find_work_note(SYS_ID, "f-2") is None
    assert len(mock.calls) == calls
    journal = FakeJournal(mock, drop_first=False)
    mock.get(f"{TABLE}/change_request", **result([row]))
    assert snow.update_fields(SYS_ID, {"state": "-2"}) is True
    # The first note is read back (the user can read the journal); its marker is then known.
    ref = snow.add_work_note(SYS_ID, text="More", marker="f-2")
    assert snow.find_work_note(SYS_ID, "f-2") == ref and len(journal.reads) == 1
    snow.add_work_note(SYS_ID, text="Again", marker="f-3")
    assert snow.find_work_note(SYS_ID, "f-3") is not None and len(journal.reads) == 1
    journal.drop_first, journal.patches = True, 0  # the next answer is lost: read again
    snow.add_work_note(SYS_ID, text="Lost", marker="f-4")
    assert len(journal.reads) == 2  # the lost answer: the journal is read, f-4 found there
    assert [e["v"] for e in journal.entries].count("Lost\n\n[cc:f-4]") == 1


def test_a_page_read_in_observe_mode_keeps_no_journal_markers(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    """Observe mode writes nothing, so no marker check follows the read: a page keeps none
    (a large site's journals would otherwise stay in memory for nothing)."""
    snow.settings = snow.settings.model_copy(update={"mode": "observe"})
    notes = {"value": "", "display_value": "2026-11-20 08:00:00 - B (Work notes)\nF\n\n[cc:f-1]\n"}
    row = {
        **change(),
        "sys_updated_on": cell("2026-11-20 08:00:00"),
        "work_notes": notes,
        "comments": {"value": "", "display_value": ""},
    }
    mock.get(f"{TABLE}/change_request", **result([row]))
    mock.get(f"{TABLE}/change_request", **result([]))
    assert [r["sys_id"]["value"] for r in snow.changes()] == [SYS_ID]
    journal = FakeJournal(mock, drop_first=False)
    # A check (were one made) reads the record: nothing was kept from the page.
    assert snow.find_work_note(SYS_ID, "f-1") is None
    assert len(journal.reads) == 1


def test_a_forgotten_change_has_its_journal_read_again(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    """After a lapsed claim the executor makes the writer forget the change (executor.py): a
    note a dead worker's write may have added since is then seen."""
    journal = FakeJournal(mock, drop_first=False)
    assert snow.find_work_note(SYS_ID, "f-1") is None
    assert len(journal.reads) == 1
    journal.entries.append({"element": "work_notes", "v": "Findings\n\n[cc:f-1]"})  # landed late
    assert snow.find_work_note(SYS_ID, "f-1") is None  # what was kept answers: stale
    snow.forget(SYS_ID)
    assert snow.find_work_note(SYS_ID, "f-1") == f"{SYS_ID}/work_notes/f-1"
    assert len(journal.reads) == 2


def test_a_deleted_change_is_reported_as_deleted(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    body = {
        "error": {
            "message": "No Record found",
            "detail": "Record doesn't exist or ACL restricts the record retrieval",
        },
        "status": "failure",
    }
    mock.get(f"{TABLE}/change_request", **result([]))
    with pytest.raises(TicketDeleted) as info:
        snow.fetch("CHG0030001")
    assert info.value.key == "CHG0030001" and isinstance(info.value, PermanentError)
    mock.get(f"{TABLE}/change_request/{SYS_ID}", status=404, json=body)
    with pytest.raises(TicketDeleted):
        snow.find_work_note(SYS_ID, "f-1")


def test_marker_must_be_a_plain_token() -> None:
    assert marker_tag("a1.b-2:c_3") == "[cc:a1.b-2:c_3]"
    with pytest.raises(ValueError):
        marker_tag("x^ORvalue!=")


def test_set_state_checks_each_field_apart(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    approved = {**change(state="-3"), "approval": cell("approved")}
    mock.get(f"{TABLE}/change_request", **result([approved]))
    assert snow.set_state(SYS_ID, state="-3", fields={"approval": "approved"}) is False
    assert not [c for c in mock.calls if c.request.method == "PATCH"]
    cleared = {**change(state="-3"), "approval": cell("not requested")}
    mock.replace(responses.GET, f"{TABLE}/change_request", **result([cleared]))
    assert snow.get_change(SYS_ID) is not None  # a person cleared the approval: read again
    reads = len(mock.calls)
    mock.patch(
        f"{TABLE}/change_request/{SYS_ID}",
        json={"result": {}},
        match=[responses.matchers.json_params_matcher({"approval": "approved"})],
    )
    # Already in Authorize, not yet approved: the approval is written, the state is not.
    assert snow.set_state(SYS_ID, state="-3", fields={"approval": "approved"}) is True
    assert len(mock.calls) == reads + 1  # checked against the row as read: the PATCH alone
    mock.patch(
        f"{TABLE}/change_request/{SYS_ID}",
        json={"result": {}},
        match=[responses.matchers.json_params_matcher({"state": "-2", "on_hold": "false"})],
    )
    assert snow.set_state(SYS_ID, state="-2", fields={"on_hold": "false"}) is True


def test_glide_datetime_is_utc_seconds() -> None:
    from datetime import datetime, timedelta, timezone

    moment = datetime(2026, 1, 1, 11, 0, 5, 999, tzinfo=timezone(timedelta(hours=1)))
    assert glide_datetime(moment) == "2026-01-01 10:00:05"


def test_changes_by_number_is_one_query_sized_to_the_numbers(
    snow: ServiceNowAdapter, mock: responses.RequestsMock
) -> None:
    mock.get(
        f"{TABLE}/change_request",
        **result([change()]),
        match=[
            responses.matchers.query_param_matcher(
                {
                    "sysparm_query": "active=true^numberINCHG0030001,CHG0030002^ORDERBYsys_id",
                    "sysparm_limit": "2",
                },
                strict_match=False,
            )
        ],
    )
    rows = snow.changes_by_number(["CHG0030001", "CHG0030002"], "active=true")
    assert [r["number"]["value"] for r in rows] == ["CHG0030001"]  # the other one is gone
    assert len(mock.calls) == 1
    assert snow.changes_by_number([]) == [] and len(mock.calls) == 1


def test_a_refreshed_change_is_the_newest_remembered() -> None:
    known: dict[str, dict[str, str]] = {}
    for sys_id in ("a", "b"):
        remember(known, sys_id, {})
    assert refreshed(known, "a") and not refreshed(known, "c")
    assert list(known) == ["b", "a"]

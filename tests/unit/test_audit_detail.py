"""The audit detail of findings: one link per evaluation that raised or resolved any, read back
one finding at a time, as are the one-finding links older versions wrote."""

from __future__ import annotations

import json

from connector.commands.explain import _resolved
from connector.core.audit_detail import (
    FINDINGS_CHANGED,
    RAISED,
    RESOLVED,
    finding_links,
    findings_changed,
)

ROLLBACK = {"rule": "required-field", "subject": "rollback_plan", "message": "no rollback plan"}
CONFLICT = {"rule": "schedule-conflict", "subject": "db", "message": "overlaps CHG-2"}
FREEZE = {"rule": "freeze", "subject": "", "message": "in the year-end freeze"}


def stored(*findings: dict[str, str]) -> str:
    return json.dumps([{**f, "severity": "block"} for f in findings])


def test_an_evaluation_with_the_same_findings_has_no_link() -> None:
    assert findings_changed(stored(ROLLBACK), stored(ROLLBACK)) is None
    # the same findings in another order are the same findings
    assert findings_changed(stored(ROLLBACK, FREEZE), stored(FREEZE, ROLLBACK)) is None
    assert findings_changed(None, stored()) is None


def test_one_link_says_what_was_raised_and_resolved_sorted() -> None:
    detail = findings_changed(stored(ROLLBACK), stored(FREEZE, CONFLICT))
    assert detail == {"raised": [FREEZE, CONFLICT], "resolved": [ROLLBACK]}
    assert findings_changed(None, stored(ROLLBACK)) == {"raised": [ROLLBACK], "resolved": []}


def test_links_are_read_a_finding_at_a_time_old_and_new() -> None:
    detail = findings_changed(stored(ROLLBACK), stored(CONFLICT))
    assert detail is not None
    assert finding_links(FINDINGS_CHANGED, detail) == [(RAISED, CONFLICT), (RESOLVED, ROLLBACK)]
    assert finding_links(RAISED, ROLLBACK) == [(RAISED, ROLLBACK)]
    assert finding_links("ticket.synced", {"fingerprint": "x"}) == []


def test_explain_says_a_finding_resolved_until_it_is_raised_again() -> None:
    def link(at: str, event: str, detail: object) -> dict[str, object]:
        return {"at": at, "event": event, "detail": detail}

    old = link("2026-01-02T10:00:00+00:00", RESOLVED, ROLLBACK)  # a one-finding link
    new = link("2026-01-03T09:30:00+00:00", FINDINGS_CHANGED, {"raised": [], "resolved": [FREEZE]})
    assert _resolved([old, new]) == {
        "required-field": "resolved 2026-01-02T10:00: no rollback plan",
        "freeze": "resolved 2026-01-03T09:30: in the year-end freeze",
    }
    again = link(
        "2026-01-04T08:00:00+00:00", FINDINGS_CHANGED, {"raised": [FREEZE], "resolved": []}
    )
    assert _resolved([old, new, again]) == {
        "required-field": "resolved 2026-01-02T10:00: no rollback plan"
    }

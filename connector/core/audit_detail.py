"""What the audit trail says about a synced ticket: which attributes changed since the stored
version, which approval decisions are new, and which findings an evaluation raised or resolved.

Pure: compares normalized changes and the policy's stored findings (JSON text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.core.model import Approval, Change

FINDINGS_CHANGED = "findings.changed"  # one link per evaluation that raised or resolved any
# One link per finding, as older versions wrote them (still read: `finding_links`).
RAISED, RESOLVED = "finding.raised", "finding.resolved"


def finding_set(text: str | None) -> set[tuple[str, str, str]]:
    if not text:
        return set()
    return {(f["rule"], f.get("subject", ""), f["message"]) for f in json.loads(text)}


def findings_changed(before: str | None, after: str) -> dict[str, Any] | None:
    """The audit detail of an evaluation whose findings (stored JSON) differ from the ones
    stored before: what it raised and what it resolved, each sorted (None: the same)."""
    if before == after:
        return None
    old, new = finding_set(before), finding_set(after)
    if old == new:
        return None
    return {
        "raised": [_finding(f) for f in sorted(new - old)],
        "resolved": [_finding(f) for f in sorted(old - new)],
    }


def finding_links(event: str, detail: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The findings an audit link raised or resolved, one at a time, in order: (RAISED or
    RESOLVED, {rule, subject, message}); none for a link of another event."""
    if event == FINDINGS_CHANGED:
        raised, resolved = detail.get("raised", []), detail.get("resolved", [])
        return [(RAISED, dict(f)) for f in raised] + [(RESOLVED, dict(f)) for f in resolved]
    if event in (RAISED, RESOLVED):
        return [(event, dict(detail))]
    return []


def _finding(item: tuple[str, str, str]) -> dict[str, str]:
    rule, subject, message = item
    return {"rule": rule, "subject": subject, "message": message}


def changed_fields(old: Change | None, new: Change) -> list[str]:
    """Which attributes differ from the stored version (the audit's before / after)."""
    if old is None:
        return []
    return sorted(
        name
        for name in Change.model_fields
        if name not in ("updated", "labels") and getattr(old, name) != getattr(new, name)
    )


def new_decisions(change: Change, old: Change | None) -> list[dict[str, str]]:
    """Approval decisions on the ticket that the store has not seen before (for the audit)."""
    seen: set[tuple[str, str, str, str]] = set()
    if old is not None:
        seen = {_decision_key(a) for a in old.approvals}
    out = []
    for approval in change.approvals:
        key = _decision_key(approval)
        if approval.decision.value != "pending" and key not in seen:
            out.append(
                {
                    "approver": approval.approver.id,
                    "approver_name": approval.approver.name,
                    "group": approval.group,
                    "decision": approval.decision.value,
                    "decided_at": approval.decided_at.isoformat() if approval.decided_at else "",
                }
            )
    return out


def _decision_key(approval: Approval) -> tuple[str, str, str, str]:
    when = approval.decided_at.isoformat() if approval.decided_at else ""
    return (approval.approver.id, approval.group, approval.decision.value, when)

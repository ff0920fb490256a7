"""What the audit trail says about a synced ticket: which attributes changed since the stored
version, which approval decisions are new, and which findings an evaluation raised or resolved.

Pure: compares normalized changes and the policy's stored findings (JSON text).
"""

from __future__ import annotations

import json

from connector.core.model import Approval, Change


def finding_set(text: str | None) -> set[tuple[str, str, str]]:
    if not text:
        return set()
    return {(f["rule"], f.get("subject", ""), f["message"]) for f in json.loads(text)}


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

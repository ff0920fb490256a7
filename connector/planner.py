"""Step 4 of the pipeline: (change, findings, what was already applied) -> a Plan of actions.

Pure: the plan is data; `sync --dry-run` prints it and stops, the executor applies it. Every
action carries a deterministic idempotency key (source, ticket, purpose, content fingerprint)
that the executor claims in the ledger, and a purpose marker that it looks for on the ticket
itself, so neither a retry, a second worker nor a lost database can apply it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum

from connector.model import Change, Frozen
from connector.policy import Finding


class ActionKind(StrEnum):
    NOTE = "note"  # one managed comment (Jira) / work note (ServiceNow) per ticket and purpose


class Action(Frozen):
    kind: ActionKind
    source: str
    ticket_key: str
    native_id: str
    purpose: str
    body: str
    content_fingerprint: str
    idempotency_key: str
    marker: str


class Plan(Frozen):
    source: str
    ticket_key: str
    actions: tuple[Action, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions


FINDINGS = "findings"


def plan(change: Change, findings: Sequence[Finding], *, last_note: str | None) -> Plan:
    """`last_note`: the content fingerprint of the findings note last applied, if any."""
    body = findings_body(findings) if findings else RESOLVED_BODY
    content = digest(body)
    unchanged = content == last_note
    nothing_to_say = not findings and last_note is None
    if unchanged or nothing_to_say:
        return Plan(source=change.source.instance, ticket_key=change.key)
    action = note(change, purpose=FINDINGS, body=body, content=content)
    return Plan(source=change.source.instance, ticket_key=change.key, actions=(action,))


def note(change: Change, *, purpose: str, body: str, content: str) -> Action:
    source = change.source.instance
    return Action(
        kind=ActionKind.NOTE,
        source=source,
        ticket_key=change.key,
        native_id=change.native_id,
        purpose=purpose,
        body=body,
        content_fingerprint=content,
        idempotency_key=idempotency_key(source, change.key, purpose, content),
        marker=f"change-connector:{purpose}",
    )


def findings_body(findings: Sequence[Finding]) -> str:
    lines = [f"Change control: {len(findings)} open finding(s) on this change."]
    lines += [f"* [{f.rule}] {f.message}" for f in findings]
    return "\n".join(lines)


RESOLVED_BODY = "Change control: every finding on this change is resolved."


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_key(source: str, ticket: str, purpose: str, content: str) -> str:
    raw = f"{source}\x1f{ticket}\x1f{purpose}\x1f{content}"
    return "cc1-" + hashlib.sha256(raw.encode()).hexdigest()[:48]

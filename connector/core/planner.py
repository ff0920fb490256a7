"""Step 4 of the pipeline: (change, evaluation, what was already applied) -> a Plan of actions.

Pure: the plan is data; `plan` and `sync --dry-run` print it and stop, the executor applies it.
Every action carries a deterministic idempotency key (source, ticket, purpose, content
fingerprint) that the executor claims in the ledger, and a marker it looks for on the ticket
itself, so neither a retry, a second worker nor a lost database can apply it twice.

What the policy does to a ticket:
- one managed "change control" note listing the open findings (edited in place where the system
  allows it, i.e. Jira; a ServiceNow journal is append-only, so each version is a new work note),
  saying "resolved" once none are left; on Jira also a label while findings are open;
- workflow moves, as worker actions named in the mapping: back to "needs information" when
  required fields are missing, on to approved (and scheduled) when the approvals are complete
  and nothing blocks, to rejected on a rejection, (optionally) back on an unauthorized start and
  (optionally, `drift`) back to the approvers when an approved change is edited after approval;
- a flag label on an unauthorized change.
Each move is planned only when the ticket is not already where it should be, so a second pass
over the same tickets plans nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from connector.core.model import CabDecision, Change, Frozen, Status
from connector.core.policy import Evaluation, Finding, Severity
from connector.core.policy.config import PolicySettings


class ActionKind(StrEnum):
    NOTE = "note"  # a comment (Jira) / work note (ServiceNow) carrying a marker
    TRANSITION = "transition"  # worker actions of the mapping, performed in order
    LABEL = "label"  # add or remove a Jira label
    NOTIFY = "notify"  # a chat post (core/notify/plan.py): `body` is the JSON to post to `channel`


class Action(Frozen):
    kind: ActionKind
    source: str
    ticket_key: str
    native_id: str
    purpose: str
    content_fingerprint: str
    idempotency_key: str
    marker: str
    body: str = ""  # NOTE: the text
    edit_in_place: bool = False  # NOTE: one note per purpose, edited when its content changes
    # NOTE: the key of the version this one follows ("": the first, or planned before versions
    # named the one they follow); where every version is a note of its own, its marker names it
    follows: str = ""
    # NOTE: for the team only (a Jira internal comment, a ServiceNow work note); customers see
    # only notes written for them.
    internal: bool = True
    steps: tuple[str, ...] = ()  # TRANSITION: worker action names, in order
    reason: str = ""  # TRANSITION: why (a rejection's comment), for close notes
    label: str = ""  # LABEL: which label
    present: bool = True  # LABEL: add (True) or remove (False)
    channel: str = ""  # NOTIFY: the `[[notify]]` channel's name


class NoteVersion(NamedTuple):
    """The version of a note (edited in place where the system can) planned last for a ticket
    and purpose, written or not: what the next version is compared with, and follows."""

    content: str  # its content fingerprint
    key: str  # its idempotency key


class Withheld(Frozen):
    """A planned action the source may not write now (observe mode, or an old change): kept in
    the plan for people to see, never put in the ledger."""

    action: Action
    reason: str


class Plan(Frozen):
    source: str
    ticket_key: str
    actions: tuple[Action, ...] = ()
    withheld: tuple[Withheld, ...] = ()  # see connector/core/gate.py

    @property
    def empty(self) -> bool:
        return not self.actions


@dataclass(frozen=True)
class Capabilities:
    """What the source offers: the worker actions its mapping defines; labels (Jira); the
    markup its notes are written in ("wiki": Jira REST v2, "sn": ServiceNow journal text)."""

    actions: frozenset[str]
    labels: bool
    note_format: str = "wiki"


FINDINGS = "findings"
TRANSITION = "transition"
RESOLVED_BODY = "Change control: every finding on this change is resolved."


def plan(
    change: Change,
    evaluation: Evaluation,
    *,
    last_note: NoteVersion | None,
    caps: Capabilities,
    policy: PolicySettings,
    extra_steps: Sequence[str] = (),
    extra_actions: Sequence[Action] = (),
    fingerprint: str = "",
) -> Plan:
    """`last_note`: the findings note planned last, if any.
    `extra_steps`: moves asked for outside the policy (a board's "more information");
    `extra_actions`: other notes planned for the change (its release notes);
    `fingerprint`: the change's, when the caller has it already."""
    actions: list[Action] = []
    findings = evaluation.findings
    body = notes_body(change, evaluation)
    nothing_to_say = body == RESOLVED_BODY and last_note is None
    if not nothing_to_say and (
        found := revised_note(change, purpose=FINDINGS, body=body, last=last_note)
    ):
        actions.append(found)
    moves = tuple(dict.fromkeys([*extra_steps, *steps(change, evaluation, caps)]))
    if not fingerprint and (moves or caps.labels):
        fingerprint = change.fingerprint()
    if moves:
        reason = rejection_line(evaluation) if "rejected" in moves else ""
        actions.append(transition(change, moves, reason=reason, fingerprint=fingerprint))
    if caps.labels:
        wanted = {
            policy.findings_label: bool(findings),
            policy.unauthorized_label: evaluation.has("unauthorized"),
        }
        for name, present in wanted.items():
            if name and present != (name in change.labels):
                actions.append(label(change, name, present=present, fingerprint=fingerprint))
    actions += extra_actions
    return Plan(source=change.source.instance, ticket_key=change.key, actions=tuple(actions))


def steps(change: Change, ev: Evaluation, caps: Capabilities) -> tuple[str, ...]:
    """The worker actions that move the ticket to where the policy says it belongs."""
    status, approvals = change.status, ev.approvals
    missing_info = ev.has("required-fields") or ev.has("infosec-categories")
    onward = ["approved"]
    if change.planned_start is not None and "scheduled" in caps.actions:
        onward.append("scheduled")
    # A board that asked for more information decides when it has it: the worker does not send
    # such a change back by itself (and never fights a person who resubmits it).
    board_waits = approvals.cab is CabDecision.MORE_INFO
    out: list[str] = []
    if status in (Status.AWAITING_APPROVAL, Status.AWAITING_INFO) and approvals.rejection:
        out = ["rejected"]
    elif status is Status.AWAITING_APPROVAL:
        if missing_info:
            out = ["needs_info"]
        elif approvals.complete and not ev.blocked:
            out = onward
    elif status is Status.AWAITING_INFO and not (missing_info or board_waits):
        if "resubmit" in caps.actions:
            out = ["resubmit"] + (onward if approvals.complete and not ev.blocked else [])
    elif status in (Status.APPROVED, Status.SCHEDULED) and ev.has("approval-drift"):
        out = ["drift"]  # edited after approval: back to the approvers, where the mapping can
    elif status is Status.APPROVED and approvals.complete and not ev.blocked:
        out = onward[1:]
    elif status is Status.IMPLEMENTING and ev.has("unauthorized"):
        out = ["unauthorized_revert"]
    return tuple(s for s in out if s in caps.actions)


def note(
    change: Change,
    *,
    purpose: str,
    body: str,
    content: str,
    edit: bool,
    follows: NoteVersion | None = None,
) -> Action:
    """A note; `follows`: the version of it planned before, whose key this one's names. A note
    whose content comes back to an earlier version's (findings resolved, then open again) is
    a new write, not that version's key, already applied, which would leave the ticket saying
    the version in between."""
    return _action(
        change,
        kind=ActionKind.NOTE,
        purpose=purpose,
        content=content,
        follows=follows.key if follows is not None else "",
        body=body,
        edit_in_place=edit,
    )


def revised_note(
    change: Change, *, purpose: str, body: str, last: NoteVersion | None
) -> Action | None:
    """The next version of a note edited in place, following `last` (the version planned
    last, if any); None when `body` says what `last` says."""
    content = digest(body)
    if last is not None and last.content == content:
        return None
    return note(change, purpose=purpose, body=body, content=content, edit=True, follows=last)


def transition(
    change: Change, moves: Sequence[str], *, reason: str = "", fingerprint: str = ""
) -> Action:
    # The change's fingerprint is part of the content: the same move asked again after the
    # ticket went elsewhere is a new action, the same move on the same ticket state is not.
    content = digest(f"{','.join(moves)}\x1f{fingerprint or change.fingerprint()}")
    return _action(
        change,
        kind=ActionKind.TRANSITION,
        purpose=TRANSITION,
        content=content,
        steps=tuple(moves),
        reason=reason,
    )


def label(change: Change, name: str, *, present: bool, fingerprint: str = "") -> Action:
    content = digest(f"{name}\x1f{present}\x1f{fingerprint or change.fingerprint()}")
    return _action(
        change,
        kind=ActionKind.LABEL,
        purpose=f"label:{name}",
        content=content,
        label=name,
        present=present,
    )


def _action(
    change: Change,
    *,
    kind: ActionKind,
    purpose: str,
    content: str,
    follows: str = "",
    **extra: object,
) -> Action:
    source = change.source.instance
    return Action.model_validate(
        {
            "kind": kind,
            "source": source,
            "ticket_key": change.key,
            "native_id": change.native_id,
            "purpose": purpose,
            "content_fingerprint": content,
            "idempotency_key": idempotency_key(
                source, change.key, purpose, content, follows=follows
            ),
            "marker": f"change-connector:{purpose}",
            "follows": follows,
            **extra,
        }
    )


def notes_body(change: Change, ev: Evaluation) -> str:
    """The managed note: open findings (blocking first), or that every finding is resolved."""
    lines = []
    if ev.findings:
        blocking = [f for f in ev.findings if f.severity is Severity.BLOCK]
        lines.append(
            f"Change control: {len(ev.findings)} open finding(s) on this change"
            + (f", {len(blocking)} blocking it." if blocking else ".")
        )
        lines += [_line(f) for f in sorted(ev.findings, key=_order)]
    else:
        lines.append(RESOLVED_BODY)
    waiting = (Status.AWAITING_APPROVAL, Status.AWAITING_INFO, Status.REJECTED)
    if change.status in waiting and (line := rejection_line(ev)):
        lines.append(line)
    return "\n".join(lines)


def rejection_line(ev: Evaluation) -> str:
    rejection = ev.approvals.rejection
    if rejection is None:
        return ""
    who = rejection.approver.name or rejection.approver.id
    why = f": {rejection.comment}" if rejection.comment else "."
    return f"Rejected by {who}{why}"


def _line(f: Finding) -> str:
    return f"* [{f.rule}] {f.message}"


def _order(f: Finding) -> int:
    return 0 if f.severity is Severity.BLOCK else 1


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_key(
    source: str, ticket: str, purpose: str, content: str, *, follows: str = ""
) -> str:
    """The write's key, from what it is; `follows`: the key of the version it replaces (a
    note's), so that each version in a ticket's history has a key of its own."""
    raw = f"{source}\x1f{ticket}\x1f{purpose}\x1f{content}"
    if follows:
        raw += f"\x1f{follows}"
    return "cc1-" + hashlib.sha256(raw.encode()).hexdigest()[:48]

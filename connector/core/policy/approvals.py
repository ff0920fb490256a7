"""Which approvals a change needs, which of its approvals count, and what is still missing.

Pure. A change's approvals come from its ticket (JSM approvals, `sysapproval_approver`, the
mapped CAB decision field) and from board decisions recorded with `cab decide`. An approval
counts only when it is approved and its approver is neither the requester nor the implementer
(separation of duties). What each class needs:

- standard: nothing when it names an approved standard-change template (else as minor);
- minor: one approver;
- major: the CAB, plus a security sign-off when the security impact is not none;
- emergency: the named emergency approver now (the CAB reviews it afterwards, see rules).

`ApprovalState.digest` identifies the set of approvals that made a change approved; the approval
basis (what the approvers saw) is recorded under it, so a later edit can be detected as drift.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache

from pydantic import AwareDatetime

from connector.core.memo import per_object
from connector.core.model import (
    Approval,
    CabDecision,
    Change,
    Decision,
    Frozen,
    Person,
    SecurityLevel,
)
from connector.core.policy.config import ApprovalPolicy

ONE_APPROVER = "an approver who is neither the requester nor the implementer"
CAB = "the change advisory board's approval"
SECURITY = "a security sign-off"
EMERGENCY = "the named emergency approver's approval"


class BoardDecision(Frozen):
    """A CAB decision taken outside the ticket system (`change-connector cab decide`)."""

    decision: CabDecision
    by: str
    note: str = ""
    decided_at: AwareDatetime


@dataclass(frozen=True)
class ApprovalState:
    needs: tuple[str, ...]
    missing: tuple[str, ...]
    counted: tuple[Approval, ...]
    self_approved: tuple[tuple[Approval, str], ...]  # (approval, "requester" | "implementer")
    rejection: Approval | None
    cab: CabDecision | None
    approved_at: datetime | None  # when the last counted approval was given, if known
    digest: str

    @property
    def complete(self) -> bool:
        return not self.missing and self.rejection is None

    @property
    def given(self) -> bool:
        """Whether anyone approved the change: a counted approval, or the board's approval in
        the ticket's CAB decision field (a standard change under its template needs none)."""
        return bool(self.counted) or self.cab is CabDecision.APPROVE

    @property
    def by_decision_field(self) -> bool:
        """Whether the board's approval in the ticket's CAB decision field is all there is.
        That field cannot say "approve" twice, so such an approval, once voided, is given again
        with `cab decide` (or an approval in the ticket system)."""
        return self.digest == _cab_digest(CabDecision.APPROVE)

    def invalidated(self) -> ApprovalState:
        """The state once the approvals no longer count (approval drift)."""
        return replace(self, counted=(), missing=self.needs, approved_at=None)


def same_person(person: Person | None, other: Person | str | None) -> bool:
    """Ids compare exactly; names and e-mail addresses ignoring case (a `--by` may be either)."""
    if person is None or other is None:
        return False
    if isinstance(other, Person):
        return person.id == other.id
    text = other.strip().casefold()
    if not text:  # an empty name must not match a person without a name or e-mail
        return False
    email = person.email.casefold()
    return text in {person.id.casefold(), person.name.casefold(), email} or (
        bool(email) and email.split("@")[0] == text
    )


@per_object
def _groups(policy: ApprovalPolicy) -> tuple[frozenset[str], frozenset[str]]:
    """The CAB and security group names, case-folded."""
    return (
        frozenset(g.casefold() for g in policy.cab_groups),
        frozenset(g.casefold() for g in policy.security_groups),
    )


_VERDICT = {CabDecision.APPROVE: Decision.APPROVED, CabDecision.REJECT: Decision.REJECTED}


def board_approvals(board: Sequence[BoardDecision], policy: ApprovalPolicy) -> list[Approval]:
    """Board decisions as approvals of the first CAB group (approve / reject only)."""
    group = policy.cab_groups[0] if policy.cab_groups else "CAB"
    return [
        Approval(
            approver=Person(id=d.by, name=d.by),
            group=group,
            decision=_VERDICT[d.decision],
            decided_at=d.decided_at,
            comment=d.note,
        )
        for d in board
        if d.decision in _VERDICT
    ]


_VERSION = re.compile(r"^(?P<name>.+?) - \d+$")


def template_listed(named: str, policy: ApprovalPolicy) -> bool:
    """Whether a ticket's template is one of the policy's standard templates.

    ServiceNow shows a standard change template version as "<name> - <version>": a listed
    "<name>" approves every version of it, a listed "<name> - <version>" only that version."""
    if named in policy.standard_templates:
        return True
    match = _VERSION.match(named)
    return match is not None and match["name"] in policy.standard_templates


def needs(change: Change, policy: ApprovalPolicy) -> tuple[str, ...]:
    cls = change.effective_class
    if cls == "standard":
        named = change.standard_template.strip()
        approved = not policy.standard_templates or template_listed(named, policy)
        return () if named and approved else (ONE_APPROVER,)
    if cls == "emergency":
        return (EMERGENCY,)
    if cls == "major":
        level = change.security.level
        return (CAB, SECURITY) if level not in (None, SecurityLevel.NONE) else (CAB,)
    return (ONE_APPROVER,)


def analyse(
    change: Change, board: Sequence[BoardDecision], policy: ApprovalPolicy
) -> ApprovalState:
    # A board member who requested or implements the change does not decide on it: such a
    # decision is reported as a self-approval (approve) or ignored (reject). Among the others the
    # board decides again by a new decision: only the latest one stands.
    valid: list[BoardDecision] = []
    own_board: list[tuple[Approval, str]] = []
    for d in board:
        role = _conflicting_role(change, d.by)
        if not role:
            valid.append(d)
        elif d.decision is CabDecision.APPROVE:
            own_board += [(a, role) for a in board_approvals([d], policy)]
    cab: CabDecision | None
    if valid:
        latest = max(valid, key=_decided_at)
        cab = latest.decision
        approvals = [*change.approvals, *board_approvals([latest], policy)]
    else:  # most changes: no board decision outside the ticket
        cab = change.cab_decision
        approvals = list(change.approvals)
    counted: list[Approval] = []
    self_approved: list[tuple[Approval, str]] = []
    rejection: Approval | None = None
    for approval in approvals:
        if approval.decision is Decision.APPROVED:
            role = _conflicting_role(change, approval.approver)
            if role:
                self_approved.append((approval, role))
            else:
                counted.append(approval)
        elif (
            approval.decision is Decision.REJECTED
            and rejection is None
            and not _conflicting_role(change, approval.approver)
        ):
            rejection = approval
    self_approved += own_board
    if rejection is None and cab is CabDecision.REJECT:
        rejection = Approval(approver=Person(id="cab", name="CAB"), decision=Decision.REJECTED)
    needed = needs(change, policy)
    missing = tuple(n for n in needed if not _satisfied(n, change, counted, cab, policy))
    times = [a.decided_at for a in counted if a.decided_at is not None]
    return ApprovalState(
        needs=needed,
        missing=missing,
        counted=tuple(counted),
        self_approved=tuple(self_approved),
        rejection=rejection,
        cab=cab,
        approved_at=max(times) if times and not missing else None,
        digest=_digest(counted, cab),
    )


def _decided_at(decision: BoardDecision) -> datetime:
    return decision.decided_at


def _conflicting_role(change: Change, approver: Person | str) -> str:
    """Ticket approvers (a `Person`) are matched by id; board members (`--by`, a text) by id,
    name, e-mail or login."""
    if same_person(change.requester, approver):
        return "requester"
    if same_person(change.implementer, approver):
        return "implementer"
    return ""


def _satisfied(
    need: str,
    change: Change,
    counted: Sequence[Approval],
    cab: CabDecision | None,
    policy: ApprovalPolicy,
) -> bool:
    if need == ONE_APPROVER:
        return bool(counted)
    if need == CAB:
        groups = _groups(policy)[0]
        return cab is CabDecision.APPROVE or any(a.group.casefold() in groups for a in counted)
    if need == SECURITY:
        groups = _groups(policy)[1]
        return any(a.group.casefold() in groups for a in counted)
    return any(same_person(change.emergency_approver, a.approver) for a in counted)


def _digest(counted: Sequence[Approval], cab: CabDecision | None) -> str:
    if not counted:
        return _cab_digest(cab)
    parts = sorted(
        f"{a.approver.id}|{a.group}|{a.decided_at.isoformat() if a.decided_at else ''}"
        for a in counted
    )
    parts.append(f"cab|{cab.value if cab else ''}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@cache
def _cab_digest(cab: CabDecision | None) -> str:
    """`_digest` of no counted approvals: one of six values."""
    return hashlib.sha256(f"cab|{cab.value if cab else ''}".encode()).hexdigest()

"""The report's answers for one change, taken when the policy evaluates it and stored with that
evaluation, so a report over 100,000 changes reads them instead of evaluating each again.

`answers()` is the row `model.row_for` builds, less the two answers that depend on what reached
the ticket afterwards (release notes posted, notice met), plus the notice deadlines and the
digest of the settings it was taken under. `current()` gives stored answers back while they
still hold: taken under the same policy and release-note settings, and no clock-driven change of
the verdict (a review falling due, a notice deadline passing: the evaluation's `recheck_at`) lies
between the evaluation and the report's clock. Anything else is evaluated again and goes through
the same `answers()`, so a row reads the same either way. `finish()` adds the ledger's answers.

Pure: JSON text in and out, no store, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from connector.communications import Notice, ReleaseNotesSettings, notices
from connector.model import Audience, Change
from connector.policy import Context, Evaluation, PolicySettings, evaluate
from connector.reports.model import NA, NO, YES, ApproverLine, ReportRow, row_for

VERSION = 1  # of the stored layout: answers of another version are taken again
_TIMES = ("created", "approved_at", "implemented_at")
_LISTS = ("infosec_categories", "freeze_findings", "conflicts_with", "open_findings")


@dataclass(frozen=True)
class Answers:
    row: ReportRow  # notice_met and release_notes_posted are filled in by `finish`
    deadlines: tuple[tuple[Audience, datetime], ...]  # notice owed per customer audience
    evaluated_at: datetime


def basis(policy: PolicySettings, release_notes: ReleaseNotesSettings) -> str:
    """Identifies what the answers depend on besides the change: the policy and the routes."""
    text = f"{VERSION}\n{policy.digest()}\n{release_notes.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def answers(
    change: Change,
    evaluation: Evaluation,
    *,
    approved: tuple[Change, Evaluation] | None,
    policy: PolicySettings,
    release_notes: ReleaseNotesSettings,
    now: datetime,
) -> str:
    """The stored form (JSON text). `approved`: the change as its approvers saw it, evaluated
    when they completed the approval (None: no snapshot recorded)."""
    row = row_for(
        change,
        evaluation,
        approved_snapshot=approved[0] if approved else None,
        snapshot_evaluation=approved[1] if approved else None,
        notes_posted=None,
        notice="",
    )
    owed = notices(
        change, notice_days=policy.notice_days, settings=release_notes, told_at=None, now=now
    )
    data = _encode(row)
    data["_notices"] = [[n.audience.value, n.deadline.isoformat()] for n in owed]
    data["_evaluated_at"] = now.isoformat()
    data["_basis"] = basis(policy, release_notes)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def approved_view(
    snapshot: Change | str, *, at: datetime, policy: PolicySettings
) -> tuple[Change, Evaluation]:
    """The change as its approvers saw it (its snapshot), evaluated when they approved."""
    change = Change.from_json(snapshot) if isinstance(snapshot, str) else snapshot
    return change, evaluate(change, Context(now=at, policy=policy))


def current(
    text: str | None, *, basis_now: str, recheck_at: datetime | None, now: datetime
) -> Answers | None:
    """The stored answers if they still hold at `now` under `basis_now` (else None)."""
    if not text:
        return None
    data = json.loads(text)
    if data.get("_basis") != basis_now:
        return None
    evaluated_at = datetime.fromisoformat(data.pop("_evaluated_at"))
    if now < evaluated_at or (recheck_at is not None and recheck_at <= now):
        return None
    return decode(data, evaluated_at)


def decode(data: dict[str, Any], evaluated_at: datetime) -> Answers:
    deadlines = tuple((Audience(a), datetime.fromisoformat(at)) for a, at in data.pop("_notices"))
    del data["_basis"]
    for name in _TIMES:
        if (value := data[name]) is not None:
            data[name] = datetime.fromisoformat(value)
    for name in _LISTS:
        data[name] = tuple(data[name])
    data["approvers"] = tuple(
        ApproverLine(name, group, decision, datetime.fromisoformat(at) if at else None)
        for name, group, decision, at in data["approvers"]
    )
    return Answers(row=ReportRow(**data), deadlines=deadlines, evaluated_at=evaluated_at)


def loads(text: str) -> Answers:
    """Stored answers read back as they are (whether or not they still hold)."""
    data = json.loads(text)
    return decode(data, datetime.fromisoformat(data.pop("_evaluated_at")))


def finish(
    taken: Answers, *, posted: bool | None, told_at: datetime | None, now: datetime
) -> ReportRow:
    """The row with the answers from the ledger: whether a release note reached the ticket
    (None: none was planned) and when customers were first told (None: not yet)."""
    return replace(
        taken.row,
        release_notes_posted=NA if posted is None else (YES if posted else NO),
        notice_met=notice_met(taken.deadlines, told_at=told_at, now=now),
    )


def notice_met(
    deadlines: Sequence[tuple[Audience, datetime]], *, told_at: datetime | None, now: datetime
) -> str:
    """yes / no / pending / n.a. over the notice each customer audience was owed."""
    if not deadlines:
        return NA
    states = {Notice(audience, at, told_at, now).status for audience, at in deadlines}
    if states & {"late", "missed"}:
        return NO
    return "pending" if "pending" in states else YES


def _encode(row: ReportRow) -> dict[str, Any]:
    data = dict(vars(row))
    for name in _TIMES:
        if (value := data[name]) is not None:
            data[name] = value.isoformat()
    for name in _LISTS:
        data[name] = list(data[name])
    data["approvers"] = [
        [a.name, a.group, a.decision, a.decided_at.isoformat() if a.decided_at else None]
        for a in row.approvers
    ]
    return data

"""Pipeline steps 3 and 4 for a batch of changes: evaluate, plan, and say what to store.

The pipeline reads what a batch's evaluations need from the store (`Reads`: the approved
windows stored near the changes', board decisions, approval bases, the notes planned last) and
`Judge.judge` does the rest without I/O: the policy's evaluation in its context, the plan with
the source's gate applied, and the texts the store keeps of both (the findings, the report's
answers). The pipeline then records the verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.core.communications import ReleaseNotesSettings, note_actions
from connector.core.gate import Gate
from connector.core.model import CabDecision, Change
from connector.core.notify.plan import notify_actions
from connector.core.notify.settings import NotifyChannel
from connector.core.planner import Capabilities, NoteVersion, Plan, plan
from connector.core.policy import (
    ApprovalBasis,
    BoardDecision,
    Context,
    Evaluation,
    PolicySettings,
    Window,
    evaluate,
)
from connector.core.windows import WindowIndex, windows_of
from connector.reports.answers import answers, approved_now, approved_view, basis
from connector.store import BasisRow, BoardRow

# A stored approved window near a batch's: (change key, system, start, end).
NearWindow = tuple[str, str, datetime, datetime]


@dataclass(frozen=True)
class Reads:
    """What the store said for one batch's evaluations (plain data: it may cross to another
    process)."""

    now: datetime  # the evaluations' clock
    near: Sequence[NearWindow]  # approved windows stored near the changes' own
    board: Mapping[str, Sequence[BoardRow]] = field(default_factory=dict)
    bases: Mapping[str, Sequence[BasisRow]] = field(default_factory=dict)
    last_note: Mapping[str, NoteVersion] = field(default_factory=dict)  # the findings note's
    told: Mapping[str, Mapping[str, NoteVersion]] = field(default_factory=dict)  # release notes'
    prints: Mapping[str, str] = field(default_factory=dict)  # fingerprint per change key
    extra_steps: Mapping[str, Sequence[str]] = field(default_factory=dict)  # moves asked for


@dataclass(frozen=True)
class Verdict:
    """One change judged: what the pipeline records."""

    evaluation: Evaluation
    plan: Plan  # the source's gate applied
    findings: str  # the findings as the store keeps them
    report: str  # the compliance report's answers, stored with the evaluation


@dataclass(frozen=True)
class Judge:
    """A source's settings for judging changes."""

    policy: PolicySettings
    caps: Capabilities
    release_notes: ReleaseNotesSettings
    notify: tuple[NotifyChannel, ...]
    gate: Gate
    dry_run: bool  # plan only: nothing is withheld from anyone, as nothing is recorded

    def judge(self, changes: Sequence[Change], reads: Reads) -> list[Verdict]:
        own = {c.key for c in changes}
        index = WindowIndex(
            [
                *(w for c in changes for w in windows_of(c) if w.approved),
                *(
                    Window(key=key, system=system, start=start, end=end, approved=True)
                    for key, system, start, end in reads.near
                    if key not in own
                ),
            ]
        )
        taken_under = basis(self.policy, self.release_notes)
        return [
            self._one(change, reads, windows=index.overlapping(change), taken_under=taken_under)
            for change in changes
        ]

    def _one(
        self, change: Change, reads: Reads, *, windows: Sequence[Window], taken_under: str
    ) -> Verdict:
        key, now = change.key, reads.now
        bases = reads.bases.get(key, ())
        ctx = Context(
            now=now,
            policy=self.policy,
            # Only the windows overlapping this change's on its systems can conflict.
            windows=windows,
            board=[
                BoardDecision(
                    decision=CabDecision(b.decision),
                    by=b.decided_by,
                    note=b.note,
                    decided_at=b.decided_at,
                )
                for b in reads.board.get(key, ())
            ],
            bases=[
                ApprovalBasis(
                    approvals=b.approvals_digest,
                    covered=json.loads(b.covered),
                    recorded_at=b.recorded_at,
                )
                for b in bases
            ],
        )
        evaluation = evaluate(change, ctx)
        communications = note_actions(
            change,
            settings=self.release_notes,
            fmt=self.caps.note_format,
            last=reads.told.get(key, {}),
            # What a recording run withholds is counted and audited, never shown.
            unseen=not self.dry_run and self.gate.reason(change) is not None,
        )
        communications += notify_actions(change, evaluation, self.notify)
        last = reads.last_note.get(key)
        planned = plan(
            change,
            evaluation,
            last_note=last,
            caps=self.caps,
            policy=self.policy,
            extra_steps=reads.extra_steps.get(key, ()),
            extra_actions=communications,
            fingerprint=reads.prints[key],
        )
        approved = next((b for b in reversed(bases) if b.snapshot), None)
        return Verdict(
            evaluation=evaluation,
            plan=self.gate.apply(change, planned),
            findings=findings_text(evaluation),
            report=self._answers(change, evaluation, approved=approved, now=now, under=taken_under),
        )

    def _answers(
        self,
        change: Change,
        evaluation: Evaluation,
        *,
        approved: BasisRow | None,
        now: datetime,
        under: str,
    ) -> str:
        """The compliance report's answers from this evaluation, stored with it."""
        if evaluation.new_basis is not None:  # approved now: the snapshot is this change
            view = approved_now(change, evaluation)
        elif approved is not None and approved.snapshot:
            view = approved_view(approved.snapshot, at=approved.recorded_at, policy=self.policy)
        else:
            view = None
        return answers(
            change,
            evaluation,
            approved=view,
            policy=self.policy,
            release_notes=self.release_notes,
            now=now,
            taken_under=under,
        )


def findings_text(evaluation: Evaluation) -> str:
    """An evaluation's findings as the store keeps them."""
    return json.dumps([f.model_dump(mode="json") for f in evaluation.findings])

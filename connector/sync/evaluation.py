"""Pipeline steps 3 and 4 for a batch of changes: evaluate, plan, and say what to store.

The pipeline reads what a batch's evaluations need from the store (`Reads`: the approved
windows stored near the changes', board decisions, approval bases, the notes planned last) and
`Judge.judge` does the rest without I/O: the policy's evaluation in its context, the plan with
the source's gate applied, and the texts the store keeps of both (the findings, the report's
answers). The pipeline then records the verdicts.

Being pure, with plain data in, a large batch can be judged in a second process while this one
records the batch before it (`SecondProcess`): the changes go there as the JSON the store holds,
and the verdicts come back as JSON too (pydantic's, ~30 µs a change both ways, where pickling
the models costs ~200 µs a change, more than evaluating it).
"""

from __future__ import annotations

import json
import multiprocessing
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from loguru import logger
from pydantic import TypeAdapter

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
    """A source's settings for judging changes (sent once to a second process)."""

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


# -- a second process ------------------------------------------------------------------------

_judge: Judge | None = None  # the second process's, set when it starts


# Verdicts cross as three JSON lists (evaluations, plans, texts), each read with its own type:
# one list of (Evaluation, Plan, str, str) tuples took pydantic four times as long to read.
Wire = tuple[bytes, bytes, bytes]


@cache
def _lists() -> tuple[
    TypeAdapter[list[Evaluation]], TypeAdapter[list[Plan]], TypeAdapter[list[tuple[str, str]]]
]:
    """The three lists' types (built once a process, when first used: a few milliseconds)."""
    return (
        TypeAdapter(list[Evaluation]),
        TypeAdapter(list[Plan]),
        TypeAdapter(list[tuple[str, str]]),
    )


def _dumps(verdicts: Sequence[Verdict]) -> Wire:
    evaluations, plans, texts = _lists()
    return (
        evaluations.dump_json([v.evaluation for v in verdicts]),
        plans.dump_json([v.plan for v in verdicts]),
        texts.dump_json([(v.findings, v.report) for v in verdicts]),
    )


def _loads(wire: Wire) -> list[Verdict]:
    evaluations, plans, texts = _lists()
    return [
        Verdict(evaluation=e, plan=p, findings=f, report=r)
        for e, p, (f, r) in zip(
            evaluations.validate_json(wire[0]),
            plans.validate_json(wire[1]),
            texts.validate_json(wire[2]),
            strict=True,
        )
    ]


def _start(judge: Judge) -> None:
    global _judge
    _judge = judge


def _ready() -> bool:
    return _judge is not None


def _judge_texts(texts: Sequence[str], reads: Reads) -> Wire:
    """In the second process: the verdicts on these stored changes, as JSON."""
    assert _judge is not None, "the second process starts with its judge"
    return _dumps(_judge.judge([Change.from_json(t) for t in texts], reads))


QUEUE = 2  # batches the second process has to judge at most: one to judge, one next


class SecondProcess:
    """A process judging batches for one pass of a pipeline (see the module docstring).

    Started by a pass with many changes to evaluate and closed at its end. It takes a few
    hundred milliseconds to start (a new interpreter, spawned: forking a process that runs
    threads is unsafe); until it answers, the pipeline judges batches itself (`ready`).
    Batches offered while it has `QUEUE` to judge wait, and go as it takes them; one that the
    pipeline needs before that is judged in the pipeline's process (`Batch.verdicts`), so
    neither process waits while the other has work to give. Lost (killed, out of memory), it
    is not ready again, and what it held is judged in the pipeline's process."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(judge,),
        )
        self._started: Future[bool] = self._pool.submit(_ready)
        self._lost = False
        self._judging: list[Future[Wire]] = []  # sent, not yet judged (or just judged)
        self._waiting: deque[Batch] = deque()  # offered, not sent yet, oldest first

    @property
    def ready(self) -> bool:
        """Whether it has started, and is not lost (one that failed to start never is)."""
        return not self._lost and self._started.done() and self._started.exception() is None

    def offer(self, changes: Sequence[Change], texts: Sequence[str], reads: Reads) -> Batch:
        """Have `changes` judged there, sent as their stored JSON `texts` (in order), with
        `reads`: now, or once it has room (`send`)."""
        batch = Batch(self, changes=changes, texts=texts, reads=reads)
        self._waiting.append(batch)
        self.send()
        return batch

    def send(self) -> None:
        """Send the batches waiting, oldest first, while it has room for them."""
        self._judging = [f for f in self._judging if not f.done()]
        while self._waiting and len(self._judging) < QUEUE and not self._lost:
            batch = self._waiting.popleft()
            try:
                batch.judged = self._pool.submit(_judge_texts, list(batch.texts), batch.reads)
            except BrokenProcessPool:
                self.mark_lost()
                return
            self._judging.append(batch.judged)

    def withdraw(self, batch: Batch) -> None:
        """Do not send `batch` (it is judged here)."""
        if batch in self._waiting:
            self._waiting.remove(batch)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def mark_lost(self) -> None:
        if not self._lost:
            logger.warning("the second evaluation process stopped; evaluating in the worker")
            self._lost = True


class Batch:
    """Changes offered to the second process; `verdicts` takes its verdicts on them."""

    def __init__(
        self, to: SecondProcess, *, changes: Sequence[Change], texts: Sequence[str], reads: Reads
    ) -> None:
        self.to, self.changes, self.texts, self.reads = to, changes, texts, reads
        self.judged: Future[Wire] | None = None  # None: not sent (yet)

    @property
    def done(self) -> bool:
        """Whether its verdicts are there to take without waiting."""
        return self.judged is not None and self.judged.done()

    def verdicts(self) -> list[Verdict]:
        """The verdicts, in the order of the changes: from the second process if it was sent
        there, else (not sent yet, or that process lost) judged here."""
        self.to.withdraw(self)
        if self.judged is not None:
            try:
                return _loads(self.judged.result())
            except BrokenProcessPool:
                self.to.mark_lost()
        return self.to.judge.judge(self.changes, self.reads)

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
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from connector.core.communications import Notice, ReleaseNotesSettings, notices
from connector.core.model import Audience, Change
from connector.core.policy import Context, Evaluation, PolicySettings, evaluate
from connector.reports.model import (
    NA,
    NO,
    ROW_FIELDS,
    ROW_LISTS,
    ROW_TIMES,
    YES,
    ApproverLine,
    ReportRow,
    row_for,
)

VERSION = 4  # of the stored layout (part of `basis`): answers of another layout are taken again
# Stored: [basis, evaluated at, [[audience, notice deadline], ...], *the row's values in field
# order]. Positional, because a report parses 100,000 of them: half the text of an object, and
# the values zip straight onto the row's fields. The two ledger answers are stored as null.
_HEAD = 3
_LEDGER = ("notice_met", "release_notes_posted")
_KEY, _CREATED, _APPROVED_AT, _TYPE, _CLASS, _APPROVERS, _NOTICE, _POSTED = (
    ROW_FIELDS.index(name)
    for name in (
        "key",
        "created",
        "approved_at",
        "change_type",
        "change_class",
        "approvers",
        "notice_met",
        "release_notes_posted",
    )
)
_TIMES = tuple(ROW_FIELDS.index(name) for name in ROW_TIMES)
_LISTS = tuple(ROW_FIELDS.index(name) for name in ROW_LISTS)


class Answers(NamedTuple):
    """Stored answers read back: `values` are the row's, in field order, the ledger's two
    still None (`finish` fills them in); `deadlines`: the notice owed per customer audience."""

    values: list[Any]
    deadlines: tuple[tuple[Audience, datetime], ...]
    evaluated_at: datetime

    @property
    def key(self) -> str:
        return str(self.values[_KEY])

    @property
    def approved_at(self) -> datetime | None:
        at: datetime | None = self.values[_APPROVED_AT]
        return at

    def wanted(self, *, until: datetime, types: set[str]) -> bool:
        """Created before `until`, and of one of `types` (a type or a class) if any given."""
        return self.left_out(until=until, types=types) is None

    def left_out(self, *, until: datetime, types: set[str]) -> str | None:
        """Why the change is not in a report up to `until` of `types` (None: it is)."""
        v = self.values
        if v[_CREATED] >= until:
            return "created after the period"
        if types and v[_CLASS] not in types and v[_TYPE] not in types:
            return "other types (--type)"
        return None


def basis(policy: PolicySettings, release_notes: ReleaseNotesSettings) -> str:
    """Identifies what the answers depend on besides the change: the policy and the routes
    (which audiences are owed notice); templates, `post_on` and the rest of the release-note
    settings change no answer."""
    routes = [route.model_dump(mode="json") for route in release_notes.routes]
    text = f"{VERSION}\n{policy.digest()}\n{orjson.dumps(routes).decode()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stored_prefix(basis_now: str) -> str:
    """How stored answers taken under `basis_now` begin (the store finds the others by it)."""
    return f'["{basis_now}",'


def approved_view(
    snapshot: Change | str, *, at: datetime, policy: PolicySettings
) -> tuple[Change, Evaluation]:
    """The change as its approvers saw it (its snapshot), evaluated when they approved."""
    change = Change.from_json(snapshot) if isinstance(snapshot, str) else snapshot
    return change, evaluate(change, Context(now=at, policy=policy))


def approved_now(change: Change, evaluation: Evaluation) -> tuple[Change, Evaluation]:
    """`approved_view` of a change this evaluation found approved (`new_basis`): the change
    itself, with this evaluation. Of the approved view the report reads only whether the
    required fields were there (`row_for`), which depends on the change and the policy alone,
    not on the clock or the context: evaluating the change again at the approval's time finds
    the same, at the cost of a second evaluation for every change approved in a sync."""
    return change, evaluation


def answers(
    change: Change,
    evaluation: Evaluation,
    *,
    approved: tuple[Change, Evaluation] | None,
    policy: PolicySettings,
    release_notes: ReleaseNotesSettings,
    now: datetime,
    taken_under: str | None = None,
) -> str:
    """The stored form (JSON text). `approved`: the change as its approvers saw it, evaluated
    when they completed the approval (None: no snapshot recorded); `taken_under`: the `basis`
    of `policy` and `release_notes`, when the caller has it (one digest for many changes)."""
    row = row_for(
        change,
        evaluation,
        approved_snapshot=approved[0] if approved else None,
        snapshot_evaluation=approved[1] if approved else None,
        notes_posted=None,
    )
    owed = notices(
        change, notice_days=policy.notice_days, settings=release_notes, told_at=None, now=now
    )
    values: list[Any] = [None if name in _LEDGER else getattr(row, name) for name in ROW_FIELDS]
    values[_APPROVERS] = [(a.name, a.group, a.decision, a.decided_at) for a in row.approvers]
    under = basis(policy, release_notes) if taken_under is None else taken_under
    head = [under, now, [(n.audience.value, n.deadline) for n in owed]]
    return orjson.dumps(head + values).decode()


def current(
    text: str | None, *, basis_now: str, recheck_at: datetime | None, now: datetime
) -> Answers | None:
    """The stored answers if they still hold at `now` under `basis_now` (else None)."""
    if not text:
        return None
    data = orjson.loads(text)
    if not isinstance(data, list) or data[0] != basis_now or len(data) != _SIZE:
        return None
    evaluated_at = datetime.fromisoformat(data[1])
    if now < evaluated_at or (recheck_at is not None and recheck_at <= now):
        return None
    return _decode(data, evaluated_at)


def loads(text: str) -> Answers:
    """Stored answers read back as they are (whether or not they still hold)."""
    data = orjson.loads(text)
    if len(data) != _SIZE:
        raise ValueError(f"stored report answers have {len(data)} values, not {_SIZE}")
    return _decode(data, datetime.fromisoformat(data[1]))


def finish(
    taken: Answers, *, posted: bool | None, told_at: datetime | None, now: datetime
) -> ReportRow:
    """The row with the answers from the ledger: whether a release note reached the ticket
    (None: none was planned) and when customers were first told (None: not yet)."""
    values = taken.values
    values[_POSTED] = NA if posted is None else (YES if posted else NO)
    deadlines = taken.deadlines
    values[_NOTICE] = notice_met(deadlines, told_at=told_at, now=now) if deadlines else NA
    return _row(ReportRow, values)


class Stored(NamedTuple):
    """One change's stored answers as the store reads them for a report."""

    key: str
    text: str | None
    due: bool  # a recheck fell due by the report's clock
    deleted: bool  # recorded as deleted in the ticket system


def rows_from(
    stored: Iterable[tuple[str, str | None, bool, bool]],
    *,
    basis_now: str,
    now: datetime,
    until: datetime,
    types: set[str],
    posted: dict[str, bool],
    told: dict[str, datetime] | None,
    left_out: dict[str, int],
) -> tuple[list[ReportRow], list[str]]:
    """The rows of the stored answers that hold at `now` (`current`), wanted up to `until` of
    `types` (`Answers.left_out`), finished with the ledger's answers (`finish`), and the keys
    of the changes whose answers do not hold (to be evaluated again). `stored`: `Stored`
    tuples; `posted` / `told`: as `finish` takes them, per ticket (`told` None: customers
    are told at the approval). Counts what it leaves out into `left_out` ("deleted" and the
    reasons of `Answers.left_out`).

    The same as those three calls per change, written as one loop: a report reads 100,000
    stored answers, and a call, a generator or an object less per change is measurable."""
    rows: list[ReportRow] = []
    stale: list[str] = []
    parse, fromiso, make, append = orjson.loads, datetime.fromisoformat, _row, rows.append
    size, times, lists = _SIZE, _TIMES_STORED, _LISTS_STORED
    created_at, class_at, type_at = _HEAD + _CREATED, _HEAD + _CLASS, _HEAD + _TYPE
    approvers_at = _HEAD + _APPROVERS
    created_out = other_types = deleted = 0
    for key, text, due, gone in stored:
        if gone:
            deleted += 1
            continue
        if not text or due:
            stale.append(key)
            continue
        data = parse(text)
        if type(data) is not list or len(data) != size or data[0] != basis_now:
            stale.append(key)
            continue
        if now < fromiso(data[1]):
            stale.append(key)
            continue
        created = data[created_at] = fromiso(data[created_at])
        if created >= until:
            created_out += 1
            continue
        if types and data[class_at] not in types and data[type_at] not in types:
            other_types += 1
            continue
        for i in times:
            value = data[i]
            if value is not None:
                data[i] = fromiso(value)
        for i in lists:
            value = data[i]
            data[i] = tuple(value) if value else ()
        approvers = data[approvers_at]
        data[approvers_at] = (
            tuple(
                [
                    ApproverLine(name, group, decision, fromiso(at) if at else None)
                    for name, group, decision, at in approvers
                ]
            )
            if approvers
            else ()
        )
        values = data[_HEAD:]
        key = values[_KEY]
        mark = posted.get(key)
        values[_POSTED] = NA if mark is None else (YES if mark else NO)
        owed = data[2]
        if owed:
            told_at = values[_APPROVED_AT] if told is None else told.get(key)
            deadlines = [(Audience(a), fromiso(at)) for a, at in owed]
            values[_NOTICE] = notice_met(deadlines, told_at=told_at, now=now)
        else:
            values[_NOTICE] = NA
        append(make(ReportRow, values))
    left_out["deleted"] = left_out.get("deleted", 0) + deleted
    for why, n in (
        ("created after the period", created_out),
        ("other types (--type)", other_types),
    ):
        if n:
            left_out[why] = left_out.get(why, 0) + n
    return rows, stale


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


def _decode(data: list[Any], evaluated_at: datetime) -> Answers:
    # 100,000 of these per report: the loops are written out, no generator per row.
    fromiso = datetime.fromisoformat
    values = data[_HEAD:]
    for i in _TIMES:
        value = values[i]
        if value is not None:
            values[i] = fromiso(value)
    for i in _LISTS:
        values[i] = tuple(values[i])
    approvers = values[_APPROVERS]
    if approvers:
        values[_APPROVERS] = tuple(
            [
                ApproverLine(name, group, decision, fromiso(at) if at else None)
                for name, group, decision, at in approvers
            ]
        )
    else:
        values[_APPROVERS] = ()
    owed = data[2]
    deadlines = tuple([(Audience(a), fromiso(at)) for a, at in owed]) if owed else ()
    return Answers(values, deadlines, evaluated_at)


_SIZE = _HEAD + len(ROW_FIELDS)
# The same indexes in the stored list (after its head); `created` is read first, apart.
_TIMES_STORED = tuple(_HEAD + i for i in _TIMES if i != _CREATED)
_LISTS_STORED = tuple(_HEAD + i for i in _LISTS)
_row = tuple.__new__  # `ReportRow._make` without its length check (`current` checked it)

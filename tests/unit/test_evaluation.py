"""Judging a batch (`sync/evaluation.py`): the verdicts from what the store said, and what a poll
cycle counts of them (`second.Share`)."""

from __future__ import annotations

import json

from test_planner import HOUR, JIRA, NOW, POLICY, WINDOW, complete

from connector.core.communications import ReleaseNotesSettings
from connector.core.gate import Gate
from connector.core.model import Change, Status
from connector.sync.evaluation import Judge, Reads, findings_text
from connector.sync.recording import Evaluated
from connector.sync.second import Share

START, END = WINDOW["planned_start"], WINDOW["planned_end"]


def judge(gate: Gate = Gate()) -> Judge:
    return Judge(
        policy=POLICY,
        caps=JIRA,
        release_notes=ReleaseNotesSettings(),
        notify=(),
        gate=gate,
        dry_run=False,
    )


def batch() -> list[Change]:
    return [
        complete(key="CHG-1", **WINDOW),
        complete(key="CHG-2", rollback_plan="", **WINDOW),
        complete(key="CHG-3", status=Status.IMPLEMENTING, actual_start=NOW),
    ]


def reads(changes: list[Change], **kw: object) -> Reads:
    prints = {c.key: c.fingerprint() for c in changes}
    return Reads(now=NOW, prints=prints, **kw)  # type: ignore[arg-type]


def test_a_window_stored_near_conflicts_and_its_own_change_does_not() -> None:
    changes = batch()
    near = [
        ("CHG-9", "payments-api", START + HOUR, END + HOUR),  # another change's, overlapping
        ("CHG-1", "payments-api", START, END),  # the batch's own, as stored: not its partner
    ]
    verdicts = judge().judge(changes, reads(changes, near=near))
    conflicts = [
        [f.subject for f in v.evaluation.findings if f.rule == "schedule-conflict"]
        for v in verdicts
    ]
    assert conflicts == [["CHG-9"], ["CHG-9"], []]
    for v in verdicts:
        assert v.findings == findings_text(v.evaluation)
        assert json.loads(v.findings) and json.loads(v.report)


def test_a_share_counts_what_a_gate_lets_through_and_what_it_withholds() -> None:
    changes = batch()
    for gate in (Gate(), Gate(mode="observe")):
        verdicts = judge(gate).judge(changes, reads(changes, near=[]))
        evaluated = [
            Evaluated(
                change=c,
                evaluation=v.evaluation,
                plan=v.plan,
                synced=False,
                previous=None,
                previous_findings=None,
                fingerprint=c.fingerprint(),
                findings=v.findings,
                report=v.report,
            )
            for c, v in zip(changes, verdicts, strict=True)
        ]
        share = Share.of([*(c.key for c in changes), "CHG-404"], evaluated)  # one not stored
        assert share.keys[-1] == "CHG-404" and "CHG-404" not in share.withheld
        assert (share.planned > 0) != gate.observing
        assert (sum(share.withheld.values()) > 0) == gate.observing
        assert share.planned + sum(share.withheld.values()) == sum(
            len(v.plan.actions) + len(v.plan.withheld) for v in verdicts
        )
        rechecks = {c.key: v.evaluation.recheck_at for c, v in zip(changes, verdicts, strict=True)}
        assert share.recheck_at == rechecks

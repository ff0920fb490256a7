"""The change-control policy end to end: the worker against the sandbox over HTTPS, on Jira and
ServiceNow, on SQLite and PostgreSQL. People act through the systems' own APIs (requesters fill
in fields, approvers answer approvals, implementers move tickets); the worker's notes, moves and
labels are read back from the tickets themselves."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import JiraOps, Ops, pick, seeded_fixtures
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import reset_log, ticket_writes, write_config

from connector.commands.cli import main
from connector.commands.demo import sandbox_sources
from connector.core.audit_detail import RAISED, finding_links
from connector.core.mapping import RawTicket
from connector.core.policy import PolicySettings
from connector.core.policy.config import Freeze, ScopeRule
from connector.sandbox import Sandbox
from connector.sandbox.scenario_model import Planted, SeedChange
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store
from connector.sync.page import PageResult
from connector.sync.pipeline import Pipeline
from connector.sync.poller import PollStats, revisit
from connector.sync.reader import read_all
from connector.sync.runtime import SourceRuntime

COUNT = 120
RANDOM_SEED = 34  # the sandbox seeds ServiceNow with RANDOM_SEED + 1


sandbox, ops = seeded_fixtures(count=COUNT, random_seed=RANDOM_SEED)


def run_cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def worker_for(
    sandbox: Sandbox,
    store: Store,
    ops: Ops,
    *,
    policy: PolicySettings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Worker:
    source = sandbox_sources(sandbox.info)[ops.name]
    settings = Settings(sources={ops.name: source}, policy=policy or PolicySettings())
    worker = Worker(settings, store, name="policy-test")
    if clock is not None:
        worker.clock = clock
    return worker.open()


JIRA_STATES = {
    "Draft": "draft",
    "Needs Information": "needs-info",
    "Awaiting Approval": "awaiting",
    "Approved": "approved",
    "Scheduled": "scheduled",
    "Implementing": "implementing",
    "Review": "review",
    "Closed": "closed",
    "Declined": "rejected",
    "Canceled": "cancelled",
}
SN_STATES = {"-5": "draft", "-4": "awaiting", "-2": "scheduled", "-1": "implementing"}
SN_STATES |= {"0": "review", "3": "closed", "4": "cancelled"}


def state(ops: Ops, seed: SeedChange) -> str:
    """Where the ticket is, in one word (an oracle independent of the mapping's status rules)."""
    if isinstance(ops, JiraOps):
        return JIRA_STATES[ops.status(seed)]
    row = ops.record(seed)
    if row["approval"] == "rejected":
        return "rejected"
    if row["on_hold"] == "true":
        return "needs-info"
    if row["state"] == "-3":
        return "approved" if row["approval"] == "approved" else "awaiting"
    return SN_STATES[row["state"]]


FINDINGS = "change-connector:findings"


def findings_notes(ops: Ops, seed: SeedChange) -> list[tuple[str, str]]:
    """(id, body) of the change-control notes on the ticket, oldest first."""
    return [(ref, body) for ref, body, _ in ops.marked(seed, FINDINGS)]


def last_note(ops: Ops, seed: SeedChange) -> str:
    notes = findings_notes(ops, seed)
    assert notes, f"no change-control note on {ops.key(seed)}"
    return notes[-1][1]


def rules_in(note: str) -> set[str]:
    return {line.split("]")[0][3:] for line in note.splitlines() if line.startswith("* [")}


MISSING = {
    "rollback_plan": "Add a rollback plan.",
    "implementation_plan": "Add an implementation plan (required for major changes).",
    "test_plan": "Add a test plan (required for major changes).",
    "justification": "Add a justification (required for major changes).",
}


def expected_missing(s: SeedChange) -> set[str]:
    out = {text for attr, text in MISSING.items() if not getattr(s, attr)}
    if not s.affected_systems:
        out.add("Add the affected systems.")
    if s.security_level is None:
        out.add("Add a security impact assessment (none, low, medium or high).")
    if s.planned_start is None:
        out.add("Add a planned window (start and end) (required for major changes).")
    return out


def untagged(note: str) -> str:
    """A note's text without the marker a ServiceNow work note ends with (`[cc:...]`)."""
    return note.split("[cc:")[0].rstrip()


def required_lines(note: str) -> set[str]:
    prefix = "* [required-fields] "
    return {line[len(prefix) :] for line in note.splitlines() if line.startswith(prefix)}


def complete(s: SeedChange) -> bool:
    return not expected_missing(s) and (s.security_level == "none" or bool(s.infosec_categories))


def planned_minor_waiting(s: SeedChange) -> bool:
    """A complete minor normal change with a planned window, waiting for its approval."""
    return (
        s.change_type == "normal"
        and s.change_class == "minor"
        and s.status == "awaiting-approval"
        and s.planned_start is not None
        and complete(s)
    )


def for_the_board(s: SeedChange) -> bool:
    """A complete major change waiting for approval that only the board has to give (no
    security impact, so no security sign-off)."""
    return (
        s.change_type == "normal"
        and s.change_class == "major"
        and s.status == "awaiting-approval"
        and s.security_level == "none"
        and s.planned_start is not None
        and complete(s)
    )


def test_incomplete_major_change_one_note_then_resolved_and_moves_on(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    (seed,) = pick(
        ops.seeds,
        lambda s: (
            s.change_type == "normal"
            and s.change_class == "major"
            and s.status == "awaiting-approval"
            and bool(expected_missing(s))
        ),
    )
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        w.sync_once()
        notes = findings_notes(ops, seed)
        assert len(notes) == 1
        assert required_lines(notes[0][1]) == expected_missing(seed)
        assert state(ops, seed) == "needs-info"
        reset_log(sandbox.info)
        w.sync_once()
        assert ticket_writes(sandbox.info) == []
        assert findings_notes(ops, seed) == notes
        ops.fill(seed, user=seed.requester)
        w.sync_once()
        after = findings_notes(ops, seed)
        if isinstance(ops, JiraOps):  # one comment, edited in place
            assert [ref for ref, _ in after] == [notes[0][0]]
        else:  # the journal is append-only: the resolution is the next work note
            assert len(after) == 2
        assert "resolved" in after[-1][1] and not required_lines(after[-1][1])
        assert state(ops, seed) == "awaiting"  # back with the approvers, who have not decided


def test_findings_that_come_back_after_a_fix_are_said_again(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    # Missing, fixed, missing again: the note says so each time (the third time has the first
    # one's content, and is written all the same, not taken for the first one, written long ago).
    (seed,) = pick(ops.seeds, planned_minor_waiting)
    missing = {"Add a rollback plan."}
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        said = []
        for rollback in ("", "Redeploy the previous build.", ""):
            ops.edit_rollback(seed, rollback, user=seed.requester)
            w.sync_once()
            said.append(last_note(ops, seed))
        assert required_lines(said[0]) == missing
        assert "resolved" in said[1] and not required_lines(said[1])
        assert untagged(said[2]) == untagged(said[0])
        notes = findings_notes(ops, seed)
        if isinstance(ops, JiraOps):  # one comment, edited in place each time
            assert len(notes) == 1
        else:  # the journal is append-only: a work note each time
            assert [body for _, body in notes] == said
        reset_log(sandbox.info)
        w.sync_once()
        assert ticket_writes(sandbox.info) == []


def test_major_change_with_security_impact_needs_the_security_sign_off(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    (seed,) = pick(
        ops.seeds,
        lambda s: (
            s.change_type == "normal"
            and s.change_class == "major"
            and s.status == "awaiting-approval"
            and s.security_level in ("low", "medium", "high")
            and complete(s)
        ),
    )
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        w.sync_once()
        assert state(ops, seed) == "awaiting"
        ops.approve(seed, group="CAB")
        w.sync_once()
        assert state(ops, seed) == "awaiting"  # the board alone is not enough
        ops.approve(seed, group="Security")
        w.sync_once()
        assert state(ops, seed) == "scheduled"
        self_approved = ops.planted[Planted.SELF_APPROVAL]
        assert "separation-of-duties" in rules_in(last_note(ops, self_approved))
        assert state(ops, self_approved) == "approved"  # not moved on by the worker


def test_freeze_blocks_a_normal_change_allows_an_emergency_and_its_review_falls_due(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    def ready(s: SeedChange) -> bool:
        waiting = s.status == "awaiting-approval" and s.planned_start is not None
        return waiting and complete(s)

    (normal,) = pick(
        ops.seeds, lambda s: s.change_type == "normal" and s.change_class == "minor" and ready(s)
    )
    (emergency,) = pick(ops.seeds, lambda s: s.change_type == "emergency" and ready(s))
    starts = [s.planned_start for s in (normal, emergency) if s.planned_start]
    ends = [s.planned_end for s in (normal, emergency) if s.planned_end]
    freeze = Freeze(name="Test freeze", start=min(starts), end=max(ends))
    policy = PolicySettings(freezes=(freeze,))
    with closing(Store.open(store_url)) as store:
        with closing(worker_for(sandbox, store, ops, policy=policy)) as w:
            ops.approve(normal, group="Change approvers")
            ops.approve(emergency, group="Emergency")
            w.sync_once()
            # Not moved on by the worker (ServiceNow's own approval engine marks it approved).
            assert state(ops, normal) in ("awaiting", "approved")
            assert "freeze" in rules_in(last_note(ops, normal))
            assert state(ops, emergency) == "scheduled"
            assert "allowed because this is an emergency" in last_note(ops, emergency)
            done = datetime.now(UTC).replace(microsecond=0)
            ops.implement(emergency, user="bob", start=done - timedelta(hours=1), end=done)
            w.sync_once()
            assert "emergency-review-due" in rules_in(last_note(ops, emergency))
        later = done + timedelta(days=policy.approvals.emergency_review_days, hours=1)
        with closing(worker_for(sandbox, store, ops, policy=policy, clock=lambda: later)) as w:
            reset_log(sandbox.info)
            w.sync_once()  # no ticket changed: the review fell due by the clock alone
            overdue = last_note(ops, emergency)
            assert "emergency-review-overdue" in rules_in(overdue)
            assert "overdue" in overdue


def test_a_rejection_moves_the_ticket_to_rejected_and_says_why(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    (seed,) = pick(
        ops.seeds,
        lambda s: (
            s.change_type == "normal"
            and s.change_class == "minor"
            and s.status == "awaiting-approval"
            and complete(s)
        ),
    )
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        ops.approve(seed, group="Change approvers", decision="decline")
        w.sync_once()
        assert state(ops, seed) == "rejected"
        assert "Rejected by" in last_note(ops, seed)
        if isinstance(ops, JiraOps):
            assert ops.issue(seed)["fields"]["resolution"]["name"] == "Declined"
        reset_log(sandbox.info)
        w.sync_once()
        assert ticket_writes(sandbox.info) == []


def test_overlapping_approved_changes_flag_each_other(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    a, b = ops.planted[Planted.CONFLICT_A], ops.planted[Planted.CONFLICT_B]
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        w.sync_once()
        for one, other in ((a, b), (b, a)):
            note = last_note(ops, one)
            assert "schedule-conflict" in rules_in(note)
            assert ops.key(other) in note


def test_a_change_read_again_unchanged_is_still_flagged_by_a_new_overlapping_one(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    # After a crash (or within the look-back window) a page holds tickets already stored and
    # unchanged next to new ones: an unchanged ticket is not evaluated with the page, so a new
    # window overlapping it must still get it evaluated again.
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        runtime, pipeline, (a, b), (raw_a, raw_b) = planted_conflict(w, ops)
        page = pipeline.process([raw_a, raw_b])
        assert [c.key for c in page.changed] == [b]
        found = stored_findings(store, runtime.source.instance)
        assert ("schedule-conflict", b) in found[a] and ("schedule-conflict", a) in found[b]


def planted_conflict(
    worker: Worker, ops: Ops
) -> tuple[SourceRuntime, Pipeline, list[str], list[RawTicket]]:
    """The planted pair of overlapping changes as polling reads them, the first one already
    processed: the source's runtime, the pipeline, their keys and their tickets."""
    runtime = worker.runtimes[ops.name]
    keys = [ops.key(ops.planted[p]) for p in (Planted.CONFLICT_A, Planted.CONFLICT_B)]
    raws = [raw for raw in map(runtime.fetch, keys) if raw is not None]
    assert len(raws) == len(keys)
    pipeline = runtime.pipeline()
    pipeline.process(raws[:1])
    return runtime, pipeline, keys, raws


class KilledBeforePartners(Pipeline):
    """A worker killed after a page's transaction, before the partners' evaluation."""

    def reevaluate(self, keys: Sequence[str], **_: Any) -> PageResult:
        raise SystemExit("killed")


def test_partners_of_a_moved_window_stay_due_when_the_worker_dies_before_evaluating_them(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        runtime, pipeline, (a, b), (_, raw_b) = planted_conflict(w, ops)
        killed = KilledBeforePartners(
            **{f.name: getattr(pipeline, f.name) for f in fields(pipeline) if f.init}
        )
        with pytest.raises(SystemExit):
            killed.process([raw_b])
        source = runtime.source.instance
        assert store.due_for_recheck(source, now=datetime.now(UTC)) == [a]
        with store.transaction() as tx:  # the policy is not new: only what is due is evaluated
            tx.set_policy_digest(source, runtime.policy.digest())
        stats = PollStats(source=source)
        revisit(runtime, pipeline, stats)  # the next cycle
        assert stats.reevaluated == 1
        assert ("schedule-conflict", b) in stored_findings(store, source)[a]
        assert store.due_for_recheck(source, now=datetime.now(UTC)) == []


def test_findings_do_not_depend_on_the_order_the_tickets_arrive_in(
    sandbox: Sandbox, ops: Ops, store_url: str, tmp_path: Path
) -> None:
    # Pages in any order, with tickets read again among them (after a crash, in the look-back
    # window), end with the findings one pass over every ticket gives: no context-dependent
    # rule (conflicts, approval bases) may keep what an earlier page happened to see.
    now = datetime.now(UTC)
    reference_url = Store.default_url(tmp_path / "reference")
    with (
        closing(Store.open(reference_url)) as store,
        closing(worker_for(sandbox, store, ops, clock=lambda: now)) as w,
    ):
        runtime = w.runtimes[ops.name]
        raws = list(read_all(runtime.adapter, runtime.mapping))
        runtime.pipeline().process(raws)
        expected = stored_findings(store, runtime.source.instance)
    assert len(expected) == len(raws) and any(expected.values())

    rng = random.Random(20261123)
    order = rng.sample(raws, len(raws))
    with (
        closing(Store.open(store_url)) as store,
        closing(worker_for(sandbox, store, ops, clock=lambda: now)) as w,
    ):
        runtime = w.runtimes[ops.name]
        pipeline = runtime.pipeline()
        done = 0
        while done < len(order):
            size = rng.randint(1, 12)
            # Half the pages read every earlier ticket again, the others a few of them.
            if rng.random() < 0.5:
                again = order[:done]
            else:
                again = rng.sample(order[:done], min(done, rng.randint(0, 4)))
            page = again + order[done : done + size]
            rng.shuffle(page)
            pipeline.process(page)
            done += size
        assert stored_findings(store, runtime.source.instance) == expected


def stored_findings(store: Store, source: str) -> dict[str, set[tuple[str, str]]]:
    return {
        row.key: {(f["rule"], f["subject"]) for f in json.loads(row.findings or "[]")}
        for row in store.iter_stored(source)
    }


def test_implementing_without_approval_is_flagged_unauthorized(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    planted = ops.planted[Planted.UNAUTHORIZED]
    (draft,) = pick(ops.seeds, lambda s: s.status == "draft" and s.change_type != "standard")
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        if isinstance(ops, JiraOps):
            ops.move(draft, "Start implementation", user="bob")
        else:
            ops.update(draft, user="bob", state="-1")
        w.sync_once()
        for seed in (planted, draft):
            notes = [body for _, body in findings_notes(ops, seed)]
            assert any("unauthorized" in rules_in(n) for n in notes), ops.key(seed)
            if isinstance(ops, JiraOps):  # flagged with a label; the workflow has no way back
                assert "change-control-unauthorized" in ops.labels(seed)
                assert state(ops, seed) == "implementing"
            else:  # the ServiceNow mapping sends it back to Authorize
                assert ops.record(seed)["state"] == "-3"
        raised = {
            (r.ticket_key, finding["rule"])
            for r in store.audit_rows()
            for event, finding in finding_links(r.event, r.detail)
            if event == RAISED
        }
        assert (ops.key(draft), "unauthorized") in raised


def test_editing_the_rollback_plan_after_approval_voids_the_approval(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    (seed,) = pick(ops.seeds, planned_minor_waiting)
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        ops.approve(seed, group="Change approvers")
        w.sync_once()
        assert state(ops, seed) == "scheduled"
        # Approved: its release note for engineering is posted once (customers get theirs only
        # when the change is customer-facing).
        notes = ops.marked(seed, "change-connector:release-note")
        assert sorted(public for _, _, public in notes) == [False] + [True] * seed.customer_facing
        ops.edit_rollback(seed, "Restore from last night's backup instead.", user=seed.requester)
        w.sync_once()
        note = last_note(ops, seed)
        assert "approval-drift" in rules_in(note) and "rollback plan" in note
        if isinstance(ops, JiraOps):
            ops.move(seed, "Start implementation", user="bob")
        else:
            ops.update(seed, user="bob", state="-1")
        w.sync_once()
        notes = [body for _, body in findings_notes(ops, seed)]
        assert any("unauthorized" in rules_in(n) for n in notes)


def test_an_edit_after_a_board_approval_in_the_decision_field_voids_it_until_cab_decide(
    sandbox: Sandbox, ops: Ops, store_url: str, tmp_path: Path
) -> None:
    (seed,) = pick(
        ops.seeds,
        for_the_board,
    )
    config = write_config(tmp_path / "config.toml", sandbox.info, store_url=store_url)
    with config.open("a") as f:
        f.write('\n[policy.approvals]\ncab_members = ["Carol"]\n')
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        ops.decide_in_field(seed, "Approve", user="carol")  # no approval record: the field only
        w.sync_once()
        assert state(ops, seed) == "scheduled"
        ops.edit_rollback(seed, "Fail over to the standby instead.", user=seed.requester)
        w.sync_once()
        note = last_note(ops, seed)
        assert "approval-drift" in rules_in(note) and "rollback plan" in note
        assert f"cab decide {ops.key(seed)} --decision approve" in note
        argv = ["cab", "decide", ops.key(seed), "--decision", "approve", "--by", "carol"]
        argv += ["--source", ops.name, "--config", str(config)]
        assert run_cli(argv) == 0
        assert "approval-drift" not in rules_in(last_note(ops, seed))
        reset_log(sandbox.info)
        w.sync_once()  # approved again, under a basis of its own: nothing more to do
        assert ticket_writes(sandbox.info) == []


def test_cab_decide_moves_a_ticket_as_an_approval_in_the_tool_does(
    sandbox: Sandbox, ops: Ops, store_url: str, tmp_path: Path
) -> None:
    in_tool, by_board = pick(
        ops.seeds,
        for_the_board,
        n=2,
    )
    config = write_config(tmp_path / "config.toml", sandbox.info, store_url=store_url)
    with config.open("a") as f:
        f.write('\n[policy.approvals]\ncab_members = ["Carol"]\n')
    with closing(Store.open(store_url)) as store, closing(worker_for(sandbox, store, ops)) as w:
        w.sync_once()
        assert state(ops, in_tool) == state(ops, by_board) == "awaiting"
        ops.approve(in_tool, group="CAB")
        w.sync_once()
        argv = ["cab", "decide", ops.key(by_board), "--decision", "approve", "--by", "carol"]
        argv += ["--note", "Approved at the weekly board.", "--source", ops.name]
        assert run_cli([*argv, "--config", str(config)]) == 0
        assert state(ops, in_tool) == state(ops, by_board) == "scheduled"
        assert any("weekly board" in body for _, body in ops.notes(by_board))
        rows = list(store.audit_rows())
        recorded = [r for r in rows if r.event == "approval.recorded"]
        assert any(
            r.ticket_key == ops.key(in_tool) and r.detail["decision"] == "approved"
            for r in recorded
        )
        decided = [r for r in rows if r.event == "cab.decision"]
        assert [(r.ticket_key, r.actor, r.detail["decision"]) for r in decided] == [
            (ops.key(by_board), "carol", "approve")
        ]
        reset_log(sandbox.info)
        w.sync_once()  # the decision is recorded once: nothing more to do
        assert ticket_writes(sandbox.info) == []


def test_the_policy_scope_limits_polling_and_webhooks_alike(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    if isinstance(ops, JiraOps):
        rule = ScopeRule(projects=("CHG",))
        outside = [s for s in ops.seeds if ops.key(s).startswith("OPS-")]
    else:
        rule = ScopeRule(query="risk=1")
        outside = [s for s in ops.seeds if s.risk != "very-high"]
    assert outside
    policy = PolicySettings(scope={ops.name: rule})
    with (
        closing(Store.open(store_url)) as store,
        closing(worker_for(sandbox, store, ops, policy=policy)) as w,
    ):
        w.sync_once()
        stored = {row.key for row in store.iter_stored(ops.name)}
        assert stored and not stored & {ops.key(s) for s in outside}
        for n, seed in enumerate(outside[:3]):
            store.inbox_add(
                source=ops.name, delivery_id=f"d{n}", ticket_key=ops.key(seed), body="{}"
            )
        reset_log(sandbox.info)
        stats = w.drain_once()
        assert (stats.claimed, stats.out_of_scope, stats.changed) == (3, 3, 0)
        assert ticket_writes(sandbox.info) == []
        assert {row.key for row in store.iter_stored(ops.name)} == stored

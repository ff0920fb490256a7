"""The planner: deterministic keys, nothing planned when nothing changed, resolution noted."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.model import Change, SecurityImpact, SecurityLevel, Source, SystemKind
from connector.planner import FINDINGS, RESOLVED_BODY, digest, plan
from connector.policy import evaluate

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def change(**fields: object) -> Change:
    base: dict[str, object] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "created": NOW,
        "updated": NOW,
    }
    return Change.model_validate(base | fields)


def test_incomplete_change_gets_one_note_with_a_stable_key() -> None:
    c = change()
    findings = evaluate(c)
    assert [f.rule for f in findings] == ["required-fields"] * 3
    first = plan(c, findings, last_note=None)
    again = plan(c, findings, last_note=None)
    assert len(first.actions) == 1 and first == again
    action = first.actions[0]
    assert action.purpose == FINDINGS and "rollback plan" in action.body
    assert action.idempotency_key.startswith("cc1-")


def test_same_findings_already_noted_plan_nothing() -> None:
    c = change()
    findings = evaluate(c)
    applied = plan(c, findings, last_note=None).actions[0].content_fingerprint
    assert plan(c, findings, last_note=applied).empty


def test_complete_change_never_noted_plans_nothing() -> None:
    c = change(
        affected_systems=("payments-api",),
        rollback_plan="Redeploy.",
        security=SecurityImpact(level=SecurityLevel.NONE),
    )
    assert evaluate(c) == ()
    assert plan(c, (), last_note=None).empty


def test_resolution_is_noted_once() -> None:
    c = change(
        affected_systems=("payments-api",),
        rollback_plan="Redeploy.",
        security=SecurityImpact(level=SecurityLevel.LOW),
    )
    resolved = plan(c, (), last_note="old")
    assert resolved.actions[0].body == RESOLVED_BODY
    assert plan(c, (), last_note=digest(RESOLVED_BODY)).empty


def test_keys_differ_per_ticket_and_content() -> None:
    a = plan(change(), evaluate(change()), last_note=None).actions[0]
    b = plan(change(key="CHG-2"), evaluate(change()), last_note=None).actions[0]
    assert a.idempotency_key != b.idempotency_key

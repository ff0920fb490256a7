"""What `plan` and `sync --dry-run` print (pure): plans in a stable order (source, ticket key in
natural order, then action) and, per action, the rule ids that caused it.

Machine output is built here as plain JSON text: the commands write it to standard output as
is, never through the terminal renderer, which wraps long lines at the terminal's width.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from connector.core.planner import FINDINGS, Action, ActionKind, Plan
from connector.core.policy import Evaluation
from connector.core.policy.config import PolicySettings

if TYPE_CHECKING:
    from connector.sync.recording import Evaluated

# Which rules a workflow step answers; steps not named here follow approvals, not a rule.
STEP_RULES: dict[str, tuple[str, ...]] = {
    "needs_info": ("required-fields", "infosec-categories"),
    "unauthorized_revert": ("unauthorized",),
    "drift": ("approval-drift",),
}
_DIGITS = re.compile(r"(\d+)")


def natural(key: str) -> tuple[tuple[int, int | str], ...]:
    """CHG-9 before CHG-10: digit runs compare as numbers."""
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in _DIGITS.split(key) if p)


def describe(action: Action) -> str:
    if action.kind is ActionKind.TRANSITION:
        return "move: " + " -> ".join(action.steps)
    if action.kind is ActionKind.LABEL:
        return f"{'add' if action.present else 'remove'} label {action.label}"
    if action.kind is ActionKind.NOTIFY:  # purpose: notify:<channel>:<event>
        return f"notify {action.channel}: {action.purpose.rsplit(':', 1)[-1]}"
    first = action.body.splitlines()[0] if action.body else ""
    return f"{'update' if action.edit_in_place else 'post'} note: {first}"


def action_rules(action: Action, ev: Evaluation, policy: PolicySettings) -> tuple[str, ...]:
    """The rule ids that caused `action` (none for moves that follow the approvals)."""
    found = tuple(dict.fromkeys(f.rule for f in ev.findings))
    if action.kind is ActionKind.NOTE:
        return found if action.purpose == FINDINGS else ()
    if action.kind is ActionKind.LABEL:
        if action.label == policy.unauthorized_label:
            return ("unauthorized",) if ev.has("unauthorized") else ()
        return found if action.label == policy.findings_label else ()
    return tuple(r for step in action.steps for r in STEP_RULES.get(step, ()) if ev.has(r))


def ordered(evaluated: Iterable[Evaluated]) -> list[Evaluated]:
    return sorted(evaluated, key=lambda e: (e.change.source.instance, natural(e.change.key)))


def sorted_actions(actions: Sequence[Action]) -> list[Action]:
    return sorted(actions, key=lambda a: (describe(a), a.idempotency_key))


def plan_json(evaluated: Iterable[Evaluated], policy: PolicySettings) -> str:
    """`plan --json`: one object per ticket, in order, each action with its rules."""
    rows = [
        {
            "source": e.change.source.instance,
            "key": e.change.key,
            "status": e.change.status.value,
            "findings": [f.model_dump(mode="json") for f in e.evaluation.findings],
            "actions": [
                a.model_dump(mode="json") | {"rules": list(action_rules(a, e.evaluation, policy))}
                for a in sorted_actions(e.plan.actions)
            ],
            # what the source's mode or act_on_changes_updated_after holds back, and why
            "withheld": [w.model_dump(mode="json") for w in e.plan.withheld],
        }
        for e in ordered(evaluated)
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False)


def plan_rows(evaluated: Iterable[Evaluated], policy: PolicySettings) -> list[tuple[str, ...]]:
    """`plan` as text: (source, ticket, status, action, rules), one row per action, in order;
    a ticket with findings and nothing to do gets one row naming its findings' rules."""
    rows: list[tuple[str, ...]] = []
    for e in ordered(evaluated):
        head = (e.change.source.instance, e.change.key, e.change.status.value)
        for a in sorted_actions(e.plan.actions):
            rows.append((*head, describe(a), ", ".join(action_rules(a, e.evaluation, policy))))
        for w in sorted(e.plan.withheld, key=lambda w: (describe(w.action), w.reason)):
            rules = ", ".join(action_rules(w.action, e.evaluation, policy))
            rows.append((*head, f"(withheld: {w.reason}) {describe(w.action)}", rules))
        if not e.plan.actions and not e.plan.withheld and e.evaluation.findings:
            found = dict.fromkeys(f.rule for f in e.evaluation.findings)
            rows.append((*head, "-", ", ".join(found)))
    return rows


def dry_run_json(plans: Iterable[Plan]) -> str:
    """`sync --dry-run`: the plans of the cycle, in order, as one JSON array."""
    out: list[dict[str, Any]] = [
        p.model_dump(mode="json")
        | {"actions": [a.model_dump(mode="json") for a in sorted_actions(p.actions)]}
        for p in sorted(plans, key=lambda p: (p.source, natural(p.ticket_key)))
    ]
    return json.dumps(out, indent=2, ensure_ascii=False)

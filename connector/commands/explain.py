"""`change-connector explain KEY`: why one change stands where it does, from the store.

The stored change is evaluated again as the worker would now (its policy, release notes and the
source's gate), without reading the ticket and recording nothing: the normalized change, each
policy rule's verdict with its reason, the approvals counted and not counted (and why), the
actions the worker would plan (and those withheld, and why), the ledger's open actions for the
ticket (failed ones with the system's reason), and the ticket's audit history. `--json` prints
the same as one JSON document; the text is meant to fit one screen.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import closing
from pathlib import Path
from typing import Any

from connector.core.audit_detail import RAISED, finding_links
from connector.core.errors import ConfigError
from connector.core.gate import Gate
from connector.core.model import Approval, Decision
from connector.core.planner import Action
from connector.core.policy.rules import RULES
from connector.settings import Settings, load_settings
from connector.store import Store
from connector.sync.pipeline import Evaluated
from connector.sync.runtime import offline_pipeline

HISTORY_LINES = 12  # audit links shown in the text view (the newest); JSON has all of them


def run_explain(*, config: Path | None, key: str, source: str | None, as_json: bool) -> None:
    from connector.commands.cab import pick_source
    from connector.commands.worker_commands import open_store, typer_echo

    settings = load_settings(config)
    with closing(open_store(settings, appends=False)) as store:
        name = pick_source(settings, store, key, source)
        data = explain(settings, store, source=name, key=key)
    typer_echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else as_text(data))


def explain(settings: Settings, store: Store, *, source: str, key: str) -> dict[str, Any]:
    if not store.stored_changes(source, [key]):
        raise ConfigError(f"{key}: not in the store of source {source} (run `sync` first)")
    source_settings = settings.sources[source]
    pipeline = dataclasses.replace(
        offline_pipeline(source, source_settings, store, policy=settings.policy),
        release_notes=settings.release_notes,
        gate=Gate(
            mode=source_settings.mode, act_after=source_settings.act_after(settings.policy.zone())
        ),
    )
    item = pipeline.reevaluate([key]).evaluated[0]
    history = [
        {"at": a.at.isoformat(), "event": a.event, "actor": a.actor, "detail": a.detail}
        for a in store.audit_for(source, key)
    ]
    return {
        "source": source,
        "key": key,
        "mode": source_settings.mode,
        "change": json.loads(item.change.to_json()),
        "rules": rules(item, settings, history),
        "approvals": approvals(item),
        "planned": [_action(a) for a in item.plan.actions],
        "withheld": [_action(w.action) | {"reason": w.reason} for w in item.plan.withheld],
        "ledger": [
            {
                "action": e.action,
                "state": e.state,
                "attempts": e.attempts,
                "reason": e.error or "",
                "planned_at": e.created_at.isoformat(),
            }
            for e in store.ledger_for(source=source, ticket_key=key)
        ],
        "history": history,
    }


def rules(
    item: Evaluated, settings: Settings, history: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Every rule's verdict: off (disabled), each open finding's severity and message,
    resolved (a finding raised earlier, resolved since: when, and what it said), or pass."""
    disabled = settings.policy.disabled_rules
    resolved = _resolved(history)
    out = []
    for rule_id in RULES:

        def mine(rule: str, rule_id: str = rule_id) -> bool:
            return rule == rule_id or rule.startswith(rule_id + "-")

        found = [f for f in item.evaluation.findings if mine(f.rule)]
        done = [(rule, why) for rule, why in resolved.items() if mine(rule)]
        if rule_id in disabled:
            out.append({"rule": rule_id, "verdict": "off", "reason": "in policy.disabled_rules"})
        elif found:
            out += [
                {"rule": f.rule, "verdict": f.severity.value, "reason": f.message} for f in found
            ]
        elif done:
            out += [{"rule": rule, "verdict": "resolved", "reason": why} for rule, why in done]
        else:
            out.append({"rule": rule_id, "verdict": "pass", "reason": "no finding"})
    return out


def _resolved(history: list[dict[str, Any]]) -> dict[str, str]:
    """Per rule, the finding resolved last (and not raised again since), from the audit trail."""
    out: dict[str, str] = {}
    for link in history:
        detail = link["detail"] if isinstance(link["detail"], dict) else {}
        for event, finding in finding_links(link["event"], detail):
            rule = str(finding.get("rule", ""))
            if event == RAISED:
                out.pop(rule, None)
            elif rule:
                out[rule] = f"resolved {link['at'][:16]}: {finding.get('message', '')}"
    return out


def approvals(item: Evaluated) -> dict[str, Any]:
    state, change = item.evaluation.approvals, item.change
    drift = next((f.message for f in item.evaluation.findings if f.rule == "approval-drift"), "")
    counted = [_approval(a) for a in state.counted]
    not_counted = [
        _approval(a) | {"why": f"the approver is the change's {role}"}
        for a, role in state.self_approved
    ]
    seen = {id(a) for a in state.counted} | {id(a) for a, _ in state.self_approved}
    for a in change.approvals:
        if id(a) in seen or any(a == c for c in state.counted):
            continue
        if a.decision is Decision.PENDING:
            not_counted.append(_approval(a) | {"why": "not decided yet"})
        elif a.decision is Decision.REJECTED:
            is_it = state.rejection is not None and state.rejection == a
            why = "a rejection: the change is rejected" if is_it else "a rejection not counted"
            not_counted.append(_approval(a) | {"why": why})
        elif drift and not any(a == s for s, _ in state.self_approved):
            not_counted.append(_approval(a) | {"why": f"voided: {drift}"})
    return {
        "needs": list(state.needs),
        "missing": list(state.missing),
        "complete": state.complete,
        "cab_decision": state.cab.value if state.cab else None,
        "counted": counted,
        "not_counted": not_counted,
    }


def _approval(a: Approval) -> dict[str, Any]:
    return {
        "approver": a.approver.name or a.approver.id,
        "group": a.group,
        "decision": a.decision.value,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
    }


def _action(a: Action) -> dict[str, Any]:
    from connector.commands.plan_output import describe

    return {"kind": a.kind.value, "purpose": a.purpose, "what": describe(a)}


def as_text(data: dict[str, Any]) -> str:
    c = data["change"]
    lines = [
        f"{data['source']} {data['key']}: {c.get('title', '')}",
        f"  status {c.get('status')}, type {c.get('change_type')}, class "
        f"{c.get('change_class')}, risk {c.get('risk')}; updated {c.get('updated')}",
        f"  window {c.get('planned_start') or '-'} .. {c.get('planned_end') or '-'}; "
        f"systems {', '.join(c.get('affected_systems') or []) or '-'}",
        "Rules:",
    ]
    passed = [r["rule"] for r in data["rules"] if r["verdict"] == "pass"]
    for r in data["rules"]:
        if r["verdict"] != "pass":
            lines.append(f"  [{r['rule']}] {r['verdict']}: {r['reason']}")
    lines.append(f"  pass: {', '.join(passed) or '-'}")
    a = data["approvals"]
    lines.append(
        f"Approvals: needs {', '.join(a['needs']) or 'none'}; missing "
        f"{', '.join(a['missing']) or 'none'}; CAB decision {a['cab_decision'] or '-'}"
    )
    lines += [f"  counted: {x['approver']} ({x['group'] or '-'})" for x in a["counted"]]
    lines += [
        f"  not counted: {x['approver']} ({x['group'] or '-'}, {x['decision']}): {x['why']}"
        for x in a["not_counted"]
    ]
    lines.append(f"Planned ({data['mode']} mode):" if data["planned"] else "Planned: nothing")
    lines += [f"  {p['what']}" for p in data["planned"]]
    lines += [f"  withheld: {w['what']} ({w['reason']})" for w in data["withheld"]]
    open_rows = [e for e in data["ledger"] if e["state"] != "applied"]
    lines += [
        f"  ledger: {e['action']} {e['state']} after {e['attempts']} attempt(s)"
        + (f": {e['reason']}" if e["reason"] else "")
        for e in open_rows
    ]
    history = data["history"]
    lines.append(
        f"History ({len(history)} audit links, newest {min(len(history), HISTORY_LINES)}):"
    )
    for h in history[-HISTORY_LINES:]:
        lines.append(f"  {h['at'][:19]} {h['event']} by {h['actor']}{_detail(h['detail'])}")
    return "\n".join(lines)


def _detail(detail: Any) -> str:
    if not isinstance(detail, dict):
        return ""
    for name in ("rule", "status", "decision", "purpose", "reason", "error"):
        if detail.get(name):
            value = str(detail[name])
            return f": {value[:100]}"
    return ""

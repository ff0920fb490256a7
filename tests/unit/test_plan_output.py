"""`plan` / `sync --dry-run` output: natural key order and the rule ids behind each action."""

from __future__ import annotations

from test_planner import ALL, NOW, POLICY, WINDOW, complete, ev, planned

from connector.commands.plan_output import action_rules, natural, plan_rows
from connector.core.model import Status
from connector.core.planner import Capabilities
from connector.core.policy import Context, evaluate


def test_keys_sort_in_natural_order() -> None:
    keys = ["CHG-10", "OPS-2", "CHG-9", "CHG-100", "CHG0030002", "CHG0030001"]
    assert sorted(keys, key=natural) == [
        "CHG0030001", "CHG0030002", "CHG-9", "CHG-10", "CHG-100", "OPS-2",
    ]  # fmt: skip


def test_each_action_names_the_rules_that_caused_it() -> None:
    missing = complete(rollback_plan="", **WINDOW)
    p = planned(missing)
    rules = {a.purpose: action_rules(a, ev(missing), POLICY) for a in p.actions}
    assert rules["transition"] == ("required-fields",)
    assert rules["findings"] == tuple(dict.fromkeys(f.rule for f in ev(missing).findings))
    assert rules["label:change-control"] == rules["findings"]
    unauthorized = complete(status=Status.IMPLEMENTING, actual_start=NOW)
    caps = Capabilities(actions=ALL, labels=True)
    moves = planned(unauthorized, caps=caps).actions
    by_purpose = {a.purpose: action_rules(a, ev(unauthorized), POLICY) for a in moves}
    assert by_purpose["transition"] == ("unauthorized",)
    assert by_purpose["label:change-control-unauthorized"] == ("unauthorized",)


def test_moves_that_follow_the_approvals_name_no_rule() -> None:
    from test_planner import approved

    ready = complete(approvals=(approved(),), **WINDOW)
    evaluation = evaluate(ready, Context(now=NOW, policy=POLICY))
    [move] = [a for a in planned(ready).actions if a.purpose == "transition"]
    assert move.steps == ("approved", "scheduled")
    assert action_rules(move, evaluation, POLICY) == ()


def test_plan_rows_are_one_per_action_in_order() -> None:
    from connector.sync.recording import Evaluated

    def evaluated(key: str) -> Evaluated:
        c = complete(rollback_plan="", key=key)
        return Evaluated(
            change=c,
            evaluation=ev(c),
            plan=planned(c),
            synced=True,
            previous=None,
            previous_findings=None,
            fingerprint=c.fingerprint(),
            findings="[]",
            report="[]",
        )

    rows = plan_rows([evaluated("CHG-10"), evaluated("CHG-9")], POLICY)
    assert [r[1] for r in rows] == ["CHG-9"] * (len(rows) // 2) + ["CHG-10"] * (len(rows) // 2)
    first = [r[3] for r in rows if r[1] == "CHG-9"]
    assert first == sorted(first)

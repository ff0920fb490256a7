"""A `Context` that carries the change's covered-field digests (the gate keeps them with each
stored change) evaluates exactly as one that lets the policy compute them."""

from __future__ import annotations

from test_policy_approvals import NOW, approved, change

from connector.core.policy import ApprovalBasis, Context, PolicySettings, evaluate
from connector.core.policy.facts import covered_fields, facts


def test_carried_covered_fields_give_the_same_evaluation() -> None:
    signed = change(approvals=(approved(),))
    edited = signed.model_copy(update={"rollback_plan": "Roll forward instead."})
    basis = ApprovalBasis(
        approvals=facts(signed, Context(now=NOW)).approvals.digest,
        covered=covered_fields(signed),
        recorded_at=NOW,
    )
    seen = []
    for item, bases in ((signed, ()), (signed, (basis,)), (edited, (basis,))):
        plain = Context(now=NOW, policy=PolicySettings(), bases=bases)
        carried = Context(
            now=NOW, policy=PolicySettings(), bases=bases, covered=covered_fields(item)
        )
        result = evaluate(item, carried)
        assert result == evaluate(item, plain)
        seen.append((result.new_basis is not None, result.has("approval-drift")))
    # a new basis to record, an unchanged approval, a drifted one: each path was taken
    assert seen == [(True, False), (False, False), (False, True)]

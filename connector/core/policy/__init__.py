"""Policy: pure rules over a `Change` that yield findings (pipeline step 3, evaluate).

`config` is the `[policy]` tree, `approvals` decides which approvals count, `rules` holds one
small function per rule id, `engine.evaluate(change, context)` runs them. No I/O anywhere: the
clock, other changes' windows, board decisions and approval bases arrive in the `Context`.
"""

from __future__ import annotations

from connector.core.policy.approvals import ApprovalState, BoardDecision
from connector.core.policy.config import PolicySettings
from connector.core.policy.engine import Evaluation, evaluate
from connector.core.policy.facts import ApprovalBasis, Context, Window
from connector.core.policy.findings import Finding, Severity

__all__ = [
    "ApprovalBasis",
    "ApprovalState",
    "BoardDecision",
    "Context",
    "Evaluation",
    "Finding",
    "PolicySettings",
    "Severity",
    "Window",
    "evaluate",
]

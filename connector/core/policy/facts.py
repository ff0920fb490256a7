"""What every policy rule reads (pipeline step 3, evaluate): the `Context` the caller passes,
the `Facts` computed from it once per evaluation, and the fields an approval covers.

Kept apart from the engine so that `rules` (which reads these) and `engine` (which runs the
rules) import this module and not each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import AwareDatetime

from connector.core.model import Change, Frozen
from connector.core.policy.approvals import ApprovalState, BoardDecision, analyse
from connector.core.policy.config import PolicySettings


class Window(Frozen):
    """Another change's planned window on one system (from the store's window index)."""

    key: str
    system: str
    start: AwareDatetime
    end: AwareDatetime
    approved: bool


class ApprovalBasis(Frozen):
    """What the approvers saw: a digest per covered field, under the approvals' digest."""

    approvals: str
    covered: dict[str, str]
    recorded_at: AwareDatetime


# The fields an approval covers: editing one of them after approval voids the approval.
COVERED = {
    "rollback_plan": "rollback plan",
    "implementation_plan": "implementation plan",
    "test_plan": "test plan",
    "justification": "justification",
    "affected_systems": "affected systems",
    "planned_start": "planned start",
    "planned_end": "planned end",
    "change_type": "change type",
    "change_class": "change class",
    "risk": "risk",
    "security": "security impact",
}


_COVERED_NAMES = set(COVERED)
# `json.dumps(value, sort_keys=True)` without building an encoder per call: the same text, so
# bases recorded earlier keep matching.
_encode = json.JSONEncoder(sort_keys=True).encode
_quote = encode_basestring_ascii


def _json_text(value: Any) -> str:
    """`_encode(value)`, written directly for what covered fields hold (text, null, lists of
    text, the security impact's object): the encoder's own set-up costs more than the writing."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if value is None:
        return "null"
    if kind is list and all(type(v) is str for v in value):
        return "[" + ", ".join(map(_quote, value)) + "]"
    if kind is dict and all(type(k) is str for k in value):
        return "{" + ", ".join(f"{_quote(k)}: {_json_text(value[k])}" for k in sorted(value)) + "}"
    return _encode(value)


def covered_fields(change: Change) -> dict[str, str]:
    data = change.model_dump(mode="json", include=_COVERED_NAMES)
    sha256 = hashlib.sha256
    return {name: sha256(_json_text(data.get(name)).encode()).hexdigest()[:16] for name in COVERED}


@dataclass(frozen=True)
class Context:
    now: datetime
    policy: PolicySettings = field(default_factory=PolicySettings)
    windows: Sequence[Window] = ()
    board: Sequence[BoardDecision] = ()
    bases: Sequence[ApprovalBasis] = ()
    # The change's `covered_fields`, when the caller keeps them with the change (the gate's
    # view of the store): the same values, not computed again per evaluation.
    covered: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Facts:
    """What every rule may read: the context plus the approval analysis, computed once."""

    ctx: Context
    approvals: ApprovalState
    drifted: tuple[str, ...]  # covered fields changed since the approval (names)
    basis: ApprovalBasis | None

    @property
    def policy(self) -> PolicySettings:
        return self.ctx.policy


def facts(change: Change, ctx: Context) -> Facts:
    state = analyse(change, ctx.board, ctx.policy.approvals)
    basis = next((b for b in ctx.bases if b.approvals == state.digest), None)
    drifted: tuple[str, ...] = ()
    if basis is not None and state.given:
        now = ctx.covered if ctx.covered is not None else covered_fields(change)
        drifted = tuple(name for name in COVERED if basis.covered.get(name) != now[name])
        if drifted:
            state = state.invalidated()
    return Facts(ctx=ctx, approvals=state, drifted=drifted, basis=basis)

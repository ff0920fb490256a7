"""Which planned writes a source may make now: its `mode` and `act_on_changes_updated_after`.

Pure. A new source is usually watched before it acts: in `observe` mode the worker reads,
evaluates, records, reports and plans as always, but every planned write is *withheld*: it stays
in the plan (so `plan`, `explain` and the reports show it, with the reason) and never reaches the
ledger, so nothing is written to a ticket. `act_on_changes_updated_after` does the same for
changes last updated before a moment: old tickets are recorded and reported but get no notes,
moves or labels. The gate is data applied to the plan, not a flag threaded through the
adapters; its digest joins the policy's, so a source switched to `enforce` (or a new cut-off)
has every stored change evaluated again once, and then acts once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from connector.core.model import Change
from connector.core.planner import Action, Plan, Withheld

Mode = Literal["observe", "enforce"]

OBSERVE_REASON = "observe mode: nothing is written to tickets"


@dataclass(frozen=True)
class Gate:
    mode: Mode = "enforce"
    act_after: datetime | None = None  # aware; changes updated before it get no writes

    @property
    def observing(self) -> bool:
        return self.mode == "observe"

    @property
    def default(self) -> bool:
        return self.mode == "enforce" and self.act_after is None

    def reason(self, change: Change) -> str | None:
        """Why nothing may be written to this change now, or None."""
        if self.observing:
            return OBSERVE_REASON
        if self.act_after is not None and change.updated < self.act_after:
            return (
                f"last updated {change.updated.isoformat(timespec='seconds')}, before "
                f"act_on_changes_updated_after ({self.act_after.isoformat(timespec='seconds')})"
            )
        return None

    def split(
        self, change: Change, actions: tuple[Action, ...]
    ) -> tuple[tuple[Action, ...], tuple[Withheld, ...]]:
        """(the actions that may be written, those withheld with their reason)."""
        why = self.reason(change)
        if why is None or not actions:
            return actions, ()
        return (), tuple(Withheld(action=a, reason=why) for a in actions)

    def apply(self, change: Change, plan: Plan) -> Plan:
        kept, withheld = self.split(change, plan.actions)
        if not withheld:
            return plan
        return plan.model_copy(update={"actions": kept, "withheld": plan.withheld + withheld})

    def digest(self, policy_digest: str) -> str:
        """The policy's digest, joined with this gate's unless it is the default (so existing
        stores see no change): a different value means every stored change is evaluated again."""
        if self.default:
            return policy_digest
        after = self.act_after.isoformat() if self.act_after else ""
        text = f"{policy_digest}\x1f{self.mode}\x1f{after}"
        return hashlib.sha256(text.encode()).hexdigest()

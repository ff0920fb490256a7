"""What a page or batch of tickets is as it goes through the pipeline: read and normalized
(`Normalized`), then compared, evaluated and planned (`PageResult`, what a poll cycle counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connector.core.model import Change
from connector.core.planner import Plan
from connector.sync.recording import Evaluated
from connector.sync.second import Share


@dataclass(frozen=True)
class Normalized:
    """Tickets read and normalized (step 1), not yet compared, evaluated or recorded: a poll
    cycle normalizes each page as it arrives, so its raw JSON (the larger part) goes at once,
    and processes several pages' changes together (`joined`)."""

    seen: int
    changes: list[Change]
    skipped: list[str]

    @classmethod
    def joined(cls, parts: Sequence[Normalized]) -> Normalized:
        return cls(
            seen=sum(p.seen for p in parts),
            changes=[c for p in parts for c in p.changes],
            skipped=[line for p in parts for line in p.skipped],
        )


@dataclass
class PageResult:
    seen: int = 0
    changed: list[Change] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    evaluated: list[Evaluated] = field(default_factory=list)
    max_updated: datetime | None = None
    held: int = 0  # changes recorded as read, to be evaluated after the last page (`hold`)
    # Chunks of earlier batches the second process evaluated meanwhile (`second.Lending`).
    shares: list[Share] = field(default_factory=list)

    @property
    def plans(self) -> list[Plan]:
        return [e.plan for e in self.evaluated]

    @property
    def planned(self) -> int:
        return sum(len(e.plan.actions) for e in self.evaluated)

    @property
    def withheld(self) -> int:
        return sum(len(e.plan.withheld) for e in self.evaluated)

    @property
    def withheld_by_ticket(self) -> dict[str, int]:
        """Writes withheld per ticket key (by the source's gate), as this page planned them."""
        return {e.change.key: len(e.plan.withheld) for e in self.evaluated}


def utcnow() -> datetime:
    return datetime.now(UTC)

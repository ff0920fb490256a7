"""Chat notifications, pure part: which events a change's evaluation means, and to whom.

An event is derived from the change's state and its findings (connector/core/policy/), never from
what happened on the way there, so the poll and the webhook paths, a re-evaluation and a second
worker all derive the same events. Each event has an identity (the fact it is about: a freeze's
name, the fields that changed after approval, the set of blocking findings); one notification
action is planned per (channel, event, ticket, identity), with a deterministic idempotency key,
and the ledger plans a key only once, so each fact is posted to each channel once.

Events (see `EventKind`):
- emergency-created: an emergency change seen before it is implemented (once per ticket);
- emergency-implemented: an emergency change implementing, in review or closed (once);
- unauthorized: the `unauthorized` finding (once per ticket);
- freeze-violation: a `freeze` finding on a change that is not an emergency (per freeze);
- change-blocked: blocking findings (per distinct set of them);
- approval-drift: the `approval-drift` finding (per set of fields changed after approval);
- review-overdue: the `emergency-review-overdue` finding (once).
Changes that are rejected or cancelled yield no events, nor do closed changes except the
implemented emergency and the overdue review: chat is for what is happening now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connector.core.model import Change, ChangeType, Status
from connector.core.notify.settings import EventKind, NotifyChannel
from connector.core.policy import Evaluation, Finding, Severity

IMPLEMENTED = frozenset({Status.IMPLEMENTING, Status.REVIEW, Status.CLOSED})
DROPPED = frozenset({Status.REJECTED, Status.CANCELLED})

TITLES = {
    EventKind.EMERGENCY_CREATED: "Emergency change raised",
    EventKind.EMERGENCY_IMPLEMENTED: "Emergency change implemented",
    EventKind.UNAUTHORIZED: "Unauthorized change",
    EventKind.FREEZE_VIOLATION: "Change planned in a freeze",
    EventKind.CHANGE_BLOCKED: "Change blocked",
    EventKind.APPROVAL_DRIFT: "Changed after approval",
    EventKind.REVIEW_OVERDUE: "Emergency review overdue",
}


@dataclass(frozen=True)
class Event:
    kind: EventKind
    identity: str  # what fact it is about, within the ticket ("" : the ticket itself)
    reasons: tuple[str, ...] = ()  # the findings' messages that explain it

    @property
    def title(self) -> str:
        return TITLES[self.kind]


def events_of(change: Change, ev: Evaluation) -> list[Event]:
    """The events this change's current state and findings mean (in `EventKind` order)."""
    if change.status in DROPPED:
        return []
    out: list[Event] = []
    emergency = change.change_type is ChangeType.EMERGENCY
    closed = change.status is Status.CLOSED
    if emergency and change.status not in IMPLEMENTED:
        out.append(Event(EventKind.EMERGENCY_CREATED, ""))
    if emergency and change.status in IMPLEMENTED:
        out.append(Event(EventKind.EMERGENCY_IMPLEMENTED, ""))
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for f in ev.findings:
        by_rule.setdefault(f.rule, []).append((f.subject, f.message))
    if not closed and (found := by_rule.get("unauthorized")):
        out.append(Event(EventKind.UNAUTHORIZED, "", tuple(m for _, m in found)))
    if not closed and not emergency:
        for subject, message in sorted(by_rule.get("freeze", [])):
            out.append(Event(EventKind.FREEZE_VIOLATION, subject, (message,)))
    blocking = sorted({(f.rule, f.subject, f.message) for f in ev.findings if _blocks(f)})
    if not closed and blocking:
        identity = ";".join(f"{rule}:{subject}" for rule, subject, _ in blocking)
        out.append(Event(EventKind.CHANGE_BLOCKED, identity, tuple(m for *_, m in blocking)))
    if not closed:
        for subject, message in sorted(by_rule.get("approval-drift", [])):
            out.append(Event(EventKind.APPROVAL_DRIFT, subject, (message,)))
    if found := by_rule.get("emergency-review-overdue"):
        out.append(Event(EventKind.REVIEW_OVERDUE, "", tuple(m for _, m in found)))
    return out


def _blocks(f: Finding) -> bool:
    return f.severity is Severity.BLOCK


def routed(channel: NotifyChannel, *, source: str, change: Change, event: Event) -> bool:
    """Whether `channel` wants this event of this change (its events, sources, types)."""
    if event.kind not in channel.events:
        return False
    if channel.sources and source not in channel.sources:
        return False
    return not channel.change_types or change.change_type in channel.change_types


def routes(
    channels: Sequence[NotifyChannel], *, source: str, change: Change, ev: Evaluation
) -> list[tuple[NotifyChannel, Event]]:
    """Every (channel, event) pair to post for this change, channels in config order."""
    events = events_of(change, ev)
    return [
        (channel, event)
        for channel in channels
        for event in events
        if routed(channel, source=source, change=change, event=event)
    ]

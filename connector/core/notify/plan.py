"""Chat notifications, pure part: the notification actions of one evaluated change.

One `Action` of kind NOTIFY per routed (channel, event): purpose `notify:<channel>:<event>`,
content fingerprint the digest of (channel, event, identity), so the idempotency key is
deterministic in channel + event + ticket + the fact's identity and the ledger (the outbox)
takes each key once. The body is built here, when the fact is fresh, and stored with the
action; the URL is not: it is a secret, looked up by the channel's name when posting.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.core.model import Change
from connector.core.notify.bodies import body
from connector.core.notify.events import routes
from connector.core.notify.settings import NotifyChannel
from connector.core.planner import Action, ActionKind, digest, idempotency_key
from connector.core.policy import Evaluation


def notify_actions(
    change: Change, ev: Evaluation, channels: Sequence[NotifyChannel]
) -> tuple[Action, ...]:
    if not channels:
        return ()
    source = change.source.instance
    out = []
    for channel, event in routes(channels, source=source, change=change, ev=ev):
        purpose = f"notify:{channel.name}:{event.kind.value}"
        content = digest(f"{channel.name}\x1f{event.kind.value}\x1f{event.identity}")
        key = idempotency_key(source, change.key, purpose, content)
        out.append(
            Action(
                kind=ActionKind.NOTIFY,
                source=source,
                ticket_key=change.key,
                native_id=change.native_id,
                purpose=purpose,
                content_fingerprint=content,
                idempotency_key=key,
                marker=f"change-connector:{purpose}",
                body=body(channel.kind, event, change, source=source, delivery=key),
                channel=channel.name,
            )
        )
    return tuple(out)

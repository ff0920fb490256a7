"""Chat notifications, pure part: the request body each channel kind expects for an event.

- slack: an incoming-webhook message, `text` (the notification fallback) plus Block Kit `blocks`:
  `section` blocks with `mrkdwn` text (at most 3,000 characters each) and a `context` block;
  at most 50 blocks, `&`, `<` and `>` escaped as Slack's mrkdwn requires.
- teams: what a Teams Workflows "post to a channel when a webhook request is received" flow
  takes: `{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}`, kept under
  the ~28 KB message size Teams accepts (reasons are dropped from the end to fit).
- webhook: one flat JSON object (event, ticket, reasons, the delivery id) for any receiver.
Bodies are built when the action is planned and stored with it, so a retry posts the same text.
"""

from __future__ import annotations

import json
from typing import Any

from connector.core.model import Change
from connector.core.notify.events import Event

SLACK_MAX_BLOCKS = 50
SLACK_SECTION_TEXT = 3000
SLACK_CONTEXT_TEXT = 2000
SLACK_FALLBACK_TEXT = 3000  # far below the 40,000 characters Slack truncates a message at
TEAMS_MAX_BYTES = 27 * 1024  # Teams refuses messages over ~28 KB
CARD_VERSION = "1.4"  # the newest Adaptive Card version Teams renders everywhere
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MAX_REASONS = 20


def body(kind: str, event: Event, change: Change, *, source: str, delivery: str) -> str:
    """The JSON text to POST to a channel of `kind` (slack | teams | webhook)."""
    if kind == "slack":
        data = slack(event, change, source=source)
    elif kind == "teams":
        data = teams(event, change, source=source)
    else:
        data = generic(event, change, source=source, delivery=delivery)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def headline(event: Event, change: Change) -> str:
    title = change.title.strip() or "(no summary)"
    return f"{event.title}: {change.key} {title}"


def facts(change: Change, source: str) -> list[tuple[str, str]]:
    who = change.requester.name or change.requester.id if change.requester else ""
    out = [
        ("Source", source),
        ("Type", change.change_type.value if change.change_type else "not set"),
        ("Status", change.status.value),
    ]
    if who:
        out.append(("Requested by", who))
    if change.planned_start is not None:
        out.append(("Planned start", change.planned_start.strftime("%Y-%m-%d %H:%M %Z")))
    return out


# -- Slack ------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters; everything else shows as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack(event: Event, change: Change, *, source: str) -> dict[str, Any]:
    title = slack_escape(change.title.strip() or "(no summary)")
    key = slack_escape(change.key)
    link = f"<{change.url}|{key}>" if _linkable(change.url) else key
    head = f"*{slack_escape(event.title)}*\n{link} {title}"
    blocks: list[dict[str, Any]] = [_section(head)]
    for reason in event.reasons[:MAX_REASONS]:
        blocks.append(_section(slack_escape(reason)))
    context = " | ".join(f"{name}: {slack_escape(value)}" for name, value in facts(change, source))
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _cut(context, SLACK_CONTEXT_TEXT)}],
        }
    )
    return {
        "text": _cut(slack_escape(headline(event, change)), SLACK_FALLBACK_TEXT),
        "blocks": blocks[:SLACK_MAX_BLOCKS],
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SLACK_SECTION_TEXT)}}


def _linkable(url: str) -> bool:
    # Slack's link syntax ends at "|" or ">": such a URL would break the message.
    return url.startswith("https://") and not any(c in url for c in "|<> ")


# -- Teams ------------------------------------------------------------------------------------


def teams(event: Event, change: Change, *, source: str) -> dict[str, Any]:
    reasons = list(event.reasons[:MAX_REASONS])
    while True:
        data = _teams(event, change, source=source, reasons=reasons)
        if len(json.dumps(data, ensure_ascii=False).encode()) <= TEAMS_MAX_BYTES or not reasons:
            return data
        reasons.pop()


def _teams(event: Event, change: Change, *, source: str, reasons: list[str]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _cut(event.title, 200),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": _cut(f"{change.key} {change.title.strip() or '(no summary)'}", 2000),
            "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [{"title": name, "value": value} for name, value in facts(change, source)],
        },
    ]
    body += [{"type": "TextBlock", "text": _cut(r, 3000), "wrap": True} for r in reasons]
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if change.url.startswith("https://"):
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": f"Open {change.key}", "url": change.url}
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


# -- generic webhook --------------------------------------------------------------------------


def generic(event: Event, change: Change, *, source: str, delivery: str) -> dict[str, Any]:
    return {
        "id": delivery,  # the idempotency key: a receiver may dedupe on it
        "event": event.kind.value,
        "title": event.title,
        "source": source,
        "ticket": change.key,
        "url": change.url,
        "summary": change.title,
        "change_type": change.change_type.value if change.change_type else None,
        "status": change.status.value,
        "about": event.identity,
        "reasons": list(event.reasons[:MAX_REASONS]),
    }

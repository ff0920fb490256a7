"""The documented body formats the sandbox's chat receivers check (pure; see sandbox/chat.py).

Slack Block Kit (messages): at most 50 blocks; `section` needs `text` or `fields` (a text
object of at most 3,000 characters; at most 10 fields of at most 2,000); `context` holds 1 to
10 text or image elements; `header` is plain_text of at most 150; `divider` has no content;
a text object is {"type": "mrkdwn" | "plain_text", "text": 1+ characters} (`emoji` only on
plain_text, `verbatim` only on mrkdwn); `block_id` at most 255 characters. Unknown block types
and unknown keys are refused (Slack answers `invalid_blocks`).

Adaptive Cards as Teams shows them: {"type": "AdaptiveCard", "version": "<= 1.4", "body": [...]},
`$schema` (if given) the adaptivecards.io schema; body elements of known types with their
required properties (TextBlock.text, FactSet.facts of {title, value}, Image.url, Container /
ColumnSet nesting), actions of known types (Action.OpenUrl needs an https url).
"""

from __future__ import annotations

from typing import Any

SLACK_TOP_KEYS = frozenset(
    {
        "text",
        "blocks",
        "attachments",
        "mrkdwn",
        "username",
        "icon_emoji",
        "icon_url",
        "channel",
        "thread_ts",
        "unfurl_links",
        "unfurl_media",
    }
)
MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
HEADER_TEXT = 150
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_CARD_VERSION = (1, 4)


def text_problem(obj: Any, *, limit: int, plain_only: bool = False) -> str:
    if not isinstance(obj, dict):
        return "a text object must be an object"
    kind = obj.get("type")
    if kind not in ("mrkdwn", "plain_text") or (plain_only and kind != "plain_text"):
        return f"bad text object type {kind!r}"
    allowed = {"type", "text", "emoji"} if kind == "plain_text" else {"type", "text", "verbatim"}
    if set(obj) - allowed:
        return f"unknown keys in a text object: {sorted(set(obj) - allowed)}"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return "a text object needs text"
    if len(text) > limit:
        return f"text longer than {limit} characters"
    return ""


def _block_problem(block: Any) -> str:
    if not isinstance(block, dict):
        return "a block must be an object"
    kind = block.get("type")
    block_id = block.get("block_id", "")
    if not isinstance(block_id, str) or len(block_id) > 255:
        return "bad block_id"
    if kind == "section":
        if set(block) - {"type", "text", "fields", "block_id", "accessory", "expand"}:
            return "unknown keys in a section"
        if "text" not in block and "fields" not in block:
            return "a section needs text or fields"
        if "text" in block and (p := text_problem(block["text"], limit=SECTION_TEXT)):
            return p
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            return "a section has at most 10 fields"
        return next((p for f in fields if (p := text_problem(f, limit=FIELD_TEXT))), "")
    if kind == "context":
        if set(block) - {"type", "elements", "block_id"}:
            return "unknown keys in a context"
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return "a context holds 1 to 10 elements"
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "image":
                if not element.get("image_url") or not element.get("alt_text"):
                    return "a context image needs image_url and alt_text"
            elif p := text_problem(element, limit=SECTION_TEXT):
                return p
        return ""
    if kind == "header":
        if set(block) - {"type", "text", "block_id"}:
            return "unknown keys in a header"
        return text_problem(block.get("text"), limit=HEADER_TEXT, plain_only=True)
    if kind == "divider":
        return "" if set(block) <= {"type", "block_id"} else "a divider has no content"
    return f"unknown block type {kind!r}"


def blocks_problem(blocks: Any) -> str:
    """Why Slack would refuse these blocks (`invalid_blocks`), or ""."""
    if not isinstance(blocks, list) or not blocks:
        return "blocks must be a non-empty list"
    if len(blocks) > MAX_BLOCKS:
        return f"more than {MAX_BLOCKS} blocks"
    return next((p for b in blocks if (p := _block_problem(b))), "")


def _version(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    major, _, minor = value.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def _element_problem(element: Any) -> str:
    if not isinstance(element, dict):
        return "a body element must be an object"
    kind = element.get("type")
    if kind == "TextBlock":
        return "" if isinstance(element.get("text"), str) else "TextBlock needs text"
    if kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not all(
            isinstance(f, dict)
            and isinstance(f.get("title"), str)
            and isinstance(f.get("value"), str)
            for f in facts
        ):
            return "FactSet needs facts of {title, value} strings"
        return ""
    if kind == "Image":
        return "" if isinstance(element.get("url"), str) else "Image needs url"
    if kind == "Container":
        return _elements_problem(element.get("items"))
    if kind == "ColumnSet":
        columns = element.get("columns", [])
        if not isinstance(columns, list):
            return "ColumnSet columns must be a list"
        for column in columns:
            if not isinstance(column, dict) or _elements_problem(column.get("items", [])):
                return "bad Column"
        return ""
    if kind == "ActionSet":
        return _actions_problem(element.get("actions"))
    return f"unknown element type {kind!r}"


def _elements_problem(elements: Any) -> str:
    if not isinstance(elements, list):
        return "body must be a list"
    return next((p for e in elements if (p := _element_problem(e))), "")


def _actions_problem(actions: Any) -> str:
    if not isinstance(actions, list):
        return "actions must be a list"
    for action in actions:
        if not isinstance(action, dict):
            return "an action must be an object"
        kind = action.get("type")
        if kind == "Action.OpenUrl":
            url = action.get("url")
            if not isinstance(url, str) or not url.startswith("https://"):
                return "Action.OpenUrl needs an https url"
        elif kind not in ("Action.ShowCard", "Action.ToggleVisibility"):
            return f"unknown action type {kind!r}"
    return ""


def adaptive_card_problem(card: Any) -> str:
    """Why Teams would not show this Adaptive Card, or ""."""
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return "content must be an AdaptiveCard"
    if "$schema" in card and card["$schema"] != CARD_SCHEMA:
        return "unknown $schema"
    version = _version(card.get("version"))
    if version is None or version > MAX_CARD_VERSION:
        return "version must be 1.4 or lower for Teams"
    if not isinstance(card.get("body"), list) or not card["body"]:
        return "a card needs a body"
    if p := _elements_problem(card["body"]):
        return p
    return _actions_problem(card["actions"]) if "actions" in card else ""

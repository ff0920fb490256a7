"""Rich text to plain text: Jira wiki markup (REST v2) and Atlassian Document Format (REST v3).

Used by the `wiki`, `adf` and `rich` converters during normalize. Policy checks ("is the rollback
plan filled in?") and release notes need the words a person wrote, not the markup around them, so
both renderers keep every word and drop the syntax. They never interpret HTML and never follow
links: ticket text is hostile input, and escaping it for output is the writer's job.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# Private-use code points mark protected spans (code, escapes) while the other rules run; any
# such characters in the input are removed first so a ticket cannot forge a placeholder.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")

_CODE_BLOCK = re.compile(r"\{(code|noformat)(?::[^}\n]*)?\}\n?(.*?)\n?\{\1\}", re.S)
_MONOSPACE = re.compile(r"\{\{(.+?)\}\}", re.S)
_LINE_BREAK = re.compile(r"(?<!\\)\\\\(?!\\)")
_ESCAPE = re.compile(r"\\([*_\-+^~?{}\[\]|!#\\])")
_MACRO = re.compile(
    r"\{(?:quote|panel|color|section|column|expand|anchor|toc|info|note|tip|warning)"
    r"(?::[^}\n]*)?\}",
    re.I,
)
_MENTION = re.compile(r"\[~(?:accountid:)?([^\]\n]+)\]", re.I)
_ALIAS_LINK = re.compile(r"\[([^\[\]|\n]+)\|[^\[\]\n]*\]")
_BARE_LINK = re.compile(r"\[(?:\^|#)?([^\[\]|\n]+)\]")
_IMAGE = re.compile(r"!([^\s!|]+\.(?:png|jpe?g|gif|svg|bmp|webp))(?:\|[^!\n]*)?!", re.I)
_HEADING = re.compile(r"^[ \t]*(?:h[1-6]|bq)\.[ \t]*", re.M)
_BULLET = re.compile(r"^[ \t]*(?:[*#]+|-)[ \t]+", re.M)
_RULE = re.compile(r"^[ \t]*-{4,}[ \t]*$", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|\|?(.*?)\|?\|?[ \t]*$", re.M)
_TABLE_CELL = re.compile(r"\|\|?")
# Text effects only count at word boundaries, as in Jira: `snake_case` and `2026-11-21` stay.
# Each pattern with the character it cannot match without, so a pass can skip it cheaply.
_EFFECTS = tuple(
    (
        m,
        re.compile(
            rf"(?<![\w{re.escape(m[0])}]){re.escape(m)}(?=\S)(.+?)(?<=\S){re.escape(m)}"
            rf"(?![\w{re.escape(m[0])}])"
        ),
    )
    for m in ("*", "_", "??", "-", "+", "^", "~")
)
# What only wiki markup has: a text with none of it is plain text, and only tidied. The
# characters that start a rule; a "-" that can open an effect (`-strike-`, not `mail-relay`) or
# a bullet; a heading's `h3.` or `bq.`.
_MARKUP_CHAR = re.compile(r"[{\\\[!|*#_?+^~]")
_DASH_EFFECT = re.compile(r"-(?<![\w-]-)(?=\S)")
_HEADING_WORD = re.compile(r"(?:h[1-6]|bq)\.")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.M)
_BLANK_LINES = re.compile(r"\n{3,}")

# Deeper ADF than this is not a document a person wrote; stop before Python's recursion limit.
_MAX_DEPTH = 64


def _first(match: re.Match[str]) -> str:
    return match.group(1)


def tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, no leading or trailing blank lines."""
    # Each rule runs only when the text has what it needs: most ticket text has neither.
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_SPACE.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def wiki_to_text(text: str) -> str:
    """Jira wiki markup -> plain text that keeps the words (link text, mention ids, code)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if _OPEN in text or _CLOSE in text:
        text = text.replace(_OPEN, "").replace(_CLOSE, "")
    if _plain(text):
        return tidy(text)
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"{_OPEN}{len(kept) - 1}{_CLOSE}"

    # Every rule needs a character of its own (checked in the text as it is at that step, since
    # rules add some: table rows "|", bullets "-"); a rule whose character is absent cannot
    # match, so it is skipped: plain sentences pass through a few `in` tests.
    # Code and escaped characters are literal text: protect them before any other rule runs.
    if "{" in text:
        text = _CODE_BLOCK.sub(lambda m: keep(m.group(2)), text)
        text = _MONOSPACE.sub(lambda m: keep(m.group(1)), text)
    if "\\" in text:
        text = _LINE_BREAK.sub("\n", text)
        text = _ESCAPE.sub(lambda m: keep(m.group(1)), text)
    if "{" in text:
        text = _MACRO.sub("", text)
    if "[" in text:
        text = _MENTION.sub(lambda m: keep("@" + m.group(1).strip()), text)
        # Link text is ordinary wiki text (it may carry effects); the URL is dropped.
        text = _ALIAS_LINK.sub(lambda m: m.group(1).strip(), text)
        text = _BARE_LINK.sub(lambda m: keep(m.group(1).strip()), text)
    if "!" in text:
        text = _IMAGE.sub(lambda m: keep(m.group(1)), text)
    if "----" in text:
        text = _RULE.sub("", text)
    if "." in text:
        text = _HEADING.sub("", text)
    if "|" in text:
        text = _TABLE_ROW.sub(
            lambda m: " | ".join(c.strip() for c in _TABLE_CELL.split(m[1])), text
        )
    if "*" in text or "#" in text or "-" in text:
        text = _BULLET.sub("- ", text)
    # Effects nest (`*_x_*`); a few passes unwrap them all without risking a runaway loop.
    for _ in range(4):
        before = text
        for marker, effect in _EFFECTS:
            if marker in text:
                text = effect.sub(_first, text)
        if text == before:
            break
    # Placeholders may hold other placeholders (a mention inside a link is already resolved).
    if kept:
        for _ in range(3):
            text = _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
    return tidy(text)


def _plain(text: str) -> bool:
    """Whether no wiki rule can match anywhere in the text."""
    if _MARKUP_CHAR.search(text):
        return False
    if "-" in text and ("- " in text or "-\t" in text or _DASH_EFFECT.search(text)):
        return False  # a bullet; an effect, or a rule (`----` starts like one)
    return "." not in text or _HEADING_WORD.search(text) is None


def adf_to_text(doc: dict[str, Any]) -> str:
    """An Atlassian Document Format node (normally `{"type": "doc", ...}`) -> plain text."""
    lines: list[str] = []
    _block(doc, lines, "", 0)
    return tidy("\n".join(lines))


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    content = node.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _attr(node: dict[str, Any], name: str) -> Any:
    attrs = node.get("attrs")
    return attrs.get(name) if isinstance(attrs, dict) else None


def _inline(node: dict[str, Any], depth: int) -> str:
    if depth > _MAX_DEPTH:
        raise ValueError("ADF document is nested too deeply")
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        label = _attr(node, "text") or _attr(node, "id") or ""
        return str(label) if str(label).startswith("@") else f"@{label}"
    if kind == "emoji":
        return str(_attr(node, "text") or _attr(node, "shortName") or "")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(_attr(node, "url") or "")
    if kind == "status":
        return str(_attr(node, "text") or "")
    if kind == "date":
        stamp = _attr(node, "timestamp")
        try:
            return datetime.fromtimestamp(int(stamp) / 1000, UTC).date().isoformat()
        except (TypeError, ValueError, OverflowError, OSError):
            return ""
    return "".join(_inline(child, depth + 1) for child in _children(node))


def _block(node: dict[str, Any], lines: list[str], indent: str, depth: int) -> None:
    """Append the lines of one block node; `indent` nests list items."""
    if depth > _MAX_DEPTH:
        raise ValueError("ADF document is nested too deeply")
    kind = node.get("type")
    if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
        for item in _children(node):
            sub: list[str] = []
            _block(item, sub, indent + "  ", depth + 1)
            if sub:
                sub[0] = f"{indent}- {sub[0].lstrip()}"
            lines.extend(sub)
        return
    if kind == "table":
        for row in _children(node):
            cells = []
            for cell in _children(row):
                sub = []
                _block(cell, sub, "", depth + 1)
                cells.append(" ".join(s.strip() for s in sub if s.strip()))
            lines.append(indent + " | ".join(cells))
        return
    if kind in ("rule", "media", "mediaSingle", "mediaGroup", "mediaInline"):
        return
    if kind in ("expand", "nestedExpand") and _attr(node, "title"):
        lines.append(indent + str(_attr(node, "title")))
    children = _children(node)
    if kind in ("paragraph", "heading", "codeBlock", "taskItem", "decisionItem") or not any(
        child.get("type") in _BLOCK_TYPES for child in children
    ):
        text = _inline(node, depth + 1)
        lines.extend(indent + line for line in text.split("\n"))
        return
    for child in children:
        _block(child, lines, indent, depth + 1)


_BLOCK_TYPES = frozenset(
    {
        "paragraph",
        "heading",
        "codeBlock",
        "blockquote",
        "panel",
        "rule",
        "bulletList",
        "orderedList",
        "listItem",
        "table",
        "tableRow",
        "tableCell",
        "tableHeader",
        "expand",
        "nestedExpand",
        "mediaSingle",
        "mediaGroup",
        "blockCard",
        "embedCard",
        "taskList",
        "taskItem",
        "decisionList",
        "decisionItem",
        "layoutSection",
        "layoutColumn",
    }
)

"""Atlassian Document Format <-> wiki text, for the v3 API of the Jira simulator.

The simulator stores every rich-text value once, as the wiki-markup string the v2 API serves.
v3 serves the same text as a minimal ADF document (one paragraph per blank-line-separated
block, hard breaks inside a block), and text written through v3 as ADF is flattened back to
text. Marks and macros are not modelled: the connector quotes text, it does not typeset it.
"""

from __future__ import annotations

import html
from typing import Any


def to_adf(text: str | None) -> dict[str, Any] | None:
    """The ADF document Jira Cloud v3 returns for a stored text value (None stays None)."""
    if text is None:
        return None
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return {"type": "doc", "version": 1, "content": [_paragraph(b) for b in blocks]}


def _paragraph(block: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for i, line in enumerate(block.split("\n")):
        if i:
            content.append({"type": "hardBreak"})
        if line:
            content.append({"type": "text", "text": line})
    return {"type": "paragraph", "content": content}


def from_adf(doc: Any) -> str:
    """Flatten an ADF document (any node) into text: paragraphs apart by a blank line."""
    if not isinstance(doc, dict):
        return "" if doc is None else str(doc)
    kind = doc.get("type")
    if kind == "text":
        return str(doc.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        attrs = doc.get("attrs") or {}
        return f"[~accountid:{attrs.get('id', '')}]"
    children = [from_adf(child) for child in doc.get("content") or []]
    if kind in ("doc", "bulletList", "orderedList", "listItem", "blockquote", "panel"):
        return "\n\n".join(c for c in children if c) if kind == "doc" else "\n".join(children)
    return "".join(children)


def is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc"


def to_html(text: str | None) -> str | None:
    """`renderedFields` value: escaped text in paragraphs (Jira renders wiki; we only escape)."""
    if text is None:
        return None
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return "".join(f"<p>{html.escape(b).replace(chr(10), '<br/>')}</p>" for b in blocks)

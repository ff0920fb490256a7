"""Notes as Atlassian Document Format (Jira REST v3), built in Python from the same views and in
the same shape as the wiki and Markdown templates.

ADF text nodes are literal, so ticket text goes in verbatim (only `clean`ed of control
characters); the only marks used are `strong` on the note's own labels, and no `mention`,
`inlineCard` or `link` is ever made. The ticket link is plain text for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.core.notes.escape import clean
from connector.core.notes.view import ChangeView

Node = dict[str, Any]


def text(value: str, *, strong: bool = False) -> list[Node]:
    """Text nodes for `value`, lines apart by hard breaks (ADF text may not be empty)."""
    out: list[Node] = []
    for i, line in enumerate(clean(value).split("\n")):
        if i:
            out.append({"type": "hardBreak"})
        if line:
            node: Node = {"type": "text", "text": line}
            if strong:
                node["marks"] = [{"type": "strong"}]
            out.append(node)
    return out


def paragraph(*parts: list[Node]) -> Node:
    return {"type": "paragraph", "content": [n for part in parts for n in part]}


def labelled(label: str, value: str) -> Node:
    return paragraph(text(f"{label}:", strong=True), text(" " + value))


def heading(level: int, value: str) -> Node:
    return {"type": "heading", "attrs": {"level": min(level, 6)}, "content": text(value)}


def bullets(items: Sequence[Node]) -> Node:
    return {
        "type": "bulletList",
        "content": [{"type": "listItem", "content": [item]} for item in items],
    }


def blocks(value: str) -> list[Node]:
    """One paragraph per blank-line-separated block."""
    return [paragraph(text(b)) for b in value.split("\n\n") if b.strip()]


def doc(content: list[Node]) -> Node:
    return {"type": "doc", "version": 1, "content": content}


def change_nodes(note: ChangeView, depth: int = 1) -> list[Node]:
    """The content of `change.wiki.j2`, as ADF nodes."""
    out = [
        heading(depth, note.title),
        labelled("What changes", note.summary),
        bullets(
            [
                labelled("When", note.window),
                labelled("Affected systems", note.systems),
                labelled("Affected services", note.services),
                labelled("Operational impact", note.impact),
                labelled("Expected downtime", note.downtime),
            ]
        ),
    ]
    if note.security:
        out.append(heading(depth + 1, "Security impact"))
        if note.security_level:
            out.append(labelled("Security level", note.security_level))
        out.append(
            bullets(
                [
                    paragraph(
                        text(f"{e.label}:", strong=True),
                        text(f" {e.meaning} "),
                        text("What to do:", strong=True),
                        text(f" {e.action}"),
                    )
                    for e in note.entries
                ]
            )
        )
    inside = note.internal
    if inside is not None:
        ticket = f"{inside.key} ({inside.url})" if inside.url else inside.key
        out += [
            heading(depth + 1, "Internal details"),
            bullets([labelled("Ticket", ticket), labelled("Requester", inside.requester)]),
            heading(depth + 2, "Implementation plan"),
            *blocks(inside.implementation_plan),
            heading(depth + 2, "Rollback plan"),
            *blocks(inside.rollback_plan),
        ]
        if inside.security_notes:
            out += [heading(depth + 2, "Security notes"), *blocks(inside.security_notes)]
    return out


def change_doc(note: ChangeView) -> Node:
    return doc(change_nodes(note))


def release_doc(title: str, notes: Sequence[ChangeView], empty: str) -> Node:
    content = [heading(1, title)]
    if not notes:
        content.append(paragraph(text(empty)))
    for note in notes:
        content += change_nodes(note, depth=2)
    return doc(content)

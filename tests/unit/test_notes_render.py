"""Release notes and change communications: golden files for every format and audience, with
hostile ticket text, plus what must never happen (live markup, links or mentions from ticket
text; internal details in a customer-facing note).

Regenerate the golden files with `UPDATE_GOLDEN=1 pytest tests/unit/test_notes_render.py`, then
read the diff: the escaping must be visible in them.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from connector.core.model import (
    Audience,
    Change,
    ChangeType,
    InfoSecCategory,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    SystemKind,
)
from connector.core.notes.escape import ZWSP
from connector.core.notes.render import (
    FORMATS,
    is_internal,
    render_change,
    render_release,
)

GOLDEN = Path(__file__).parents[1] / "fixtures" / "notes"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

HOSTILE_TITLE = (
    "*Urgent* [click|https://evil.example] [~accountid:5b10ac8d82e05b22cc7d4ef5] "
    "<script>alert(1)</script> {code}x{code} @here [code]<b>x</b>[/code]"
)
HOSTILE_DESCRIPTION = (
    "Moves the Zürich résumé export to the partner 日本語 API 👩\u200d💻 (see <http://auto.example>"
    " or http://bare.example, www.example.org, ops@example.com).\n"
    "h1. Heading\n"
    "# not a list\n"
    "- nor this\n"
    "1. nor this\n"
    "bq. nor a quote \x07\x1b[31m\u202eevil\n"
    "\n"
    "SECOND-PARAGRAPH: not part of the summary."
)
ROLLBACK = "RollbackSecret: redeploy v1.2.\nThen [~accountid:abc] checks [code]<i>x</i>[/code]."
IMPLEMENTATION = "ImplSecret: run the export job.\n\n2. *then* verify"
REQUESTER = "Rita Requester"
TICKET_URL = "https://jira.example.com/browse/CHG-42"


def make_change(key: str = "CHG-42", **changes: Any) -> Change:
    values: dict[str, Any] = {
        "source": Source(instance="jira-prod", kind=SystemKind.JIRA_CLOUD),
        "key": key,
        "native_id": "10042",
        "url": TICKET_URL,
        "title": HOSTILE_TITLE,
        "description": HOSTILE_DESCRIPTION,
        "change_type": ChangeType.NORMAL,
        "affected_systems": ("auth-service", "export_worker*"),
        "affected_services": ("Partner export [beta]",),
        "rollback_plan": ROLLBACK,
        "implementation_plan": IMPLEMENTATION,
        "security": SecurityImpact(
            level=SecurityLevel.MEDIUM,
            categories=(InfoSecCategory.DATA_SHARING, InfoSecCategory.USER_ACCESS),
            notes="SecnoteSecret: the partner key is in vault [path|https://vault.example]",
        ),
        "operational_impact": "Exports pause; _queued_ jobs resume after.",
        "expected_downtime_minutes": 30,
        "customer_facing": True,
        "audiences": (Audience.ALL_USERS, Audience.ACCOUNT_OWNERS),
        "planned_start": datetime(2026, 11, 21, 22, 0, tzinfo=UTC),
        "planned_end": datetime(2026, 11, 22, 1, 30, tzinfo=UTC),
        "requester": Person(id="5b10ac8d82e05b22cc7d4ef5", name=REQUESTER),
        "release": "2026.11",
        "created": T0,
        "updated": T0,
    }
    values.update(changes)
    return Change(**values)


HOSTILE = make_change()
# Security configuration, high: security, admins and engineering; not customer-facing.
HARDENING = make_change(
    "CHG-43",
    url="https://jira.example.com/browse/CHG-43",
    title="Require TLS 1.3 for the admin console",
    description="Older TLS versions are refused by the admin console.",
    security=SecurityImpact(
        level=SecurityLevel.HIGH, categories=(InfoSecCategory.SECURITY_CONFIGURATION,)
    ),
    affected_systems=("admin-console",),
    affected_services=(),
    operational_impact="",
    expected_downtime_minutes=0,
    customer_facing=False,
    audiences=(),
    planned_start=None,
    planned_end=None,
    rollback_plan="Re-enable TLS 1.2 in the console config.",
)
# Internal only: engineering.
CLEANUP = make_change(
    "CHG-44",
    url="https://jira.example.com/browse/CHG-44",
    title="Remove the unused staging queue",
    description="",
    security=SecurityImpact(level=SecurityLevel.LOW),
    customer_facing=False,
    audiences=(),
    expected_downtime_minutes=None,
)
RELEASE = (HOSTILE, HARDENING, CLEANUP)

CASES = {
    "change-all-users": lambda fmt: render_change(HOSTILE, audience=Audience.ALL_USERS, fmt=fmt),
    "change-engineering": lambda fmt: render_change(
        HOSTILE, audience=Audience.ENGINEERING, fmt=fmt
    ),
    "release-security": lambda fmt: render_release(
        "2026.11", RELEASE, audience=Audience.SECURITY, fmt=fmt
    ),
    "release-all-users": lambda fmt: render_release(
        "2026.11", RELEASE, audience=Audience.ALL_USERS, fmt=fmt
    ),
}


def golden_text(fmt: str, rendered: str) -> str:
    """ADF is compared (and stored) pretty-printed, to be readable in review."""
    if fmt == "adf":
        return json.dumps(json.loads(rendered), indent=2, ensure_ascii=False) + "\n"
    return rendered


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, fmt: str) -> None:
    path = GOLDEN / f"{case}.{fmt}"
    got = golden_text(fmt, CASES[case](fmt))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"{path} differs; UPDATE_GOLDEN=1 to rewrite"


def all_renderings(fmt: str) -> list[str]:
    return [render(fmt) for render in CASES.values()]


# --- nothing live comes from ticket text -------------------------------------------------


def unescaped(text: str, needle: str) -> bool:
    """`needle` occurs without a backslash right before it."""
    return re.search(rf"(?<!\\){re.escape(needle)}", text) is not None


# The connector's own ticket link in the internal note: the one live link a note may carry.
OWN_LINK = re.compile(r"\[CHG\\-4\d\|https://jira\.example\.com/browse/CHG-4\d\]")


def test_wiki_is_inert() -> None:
    for text in all_renderings("wiki"):
        ticket_text = OWN_LINK.sub("", text)
        for needle in ("[~", "|http", "[click", "{code}", "[code]", "[beta]", "!", "#"):
            assert not unescaped(ticket_text, needle), needle
        for escaped in ("\\*Urgent\\*", "\\_queued\\_", "export\\_worker\\*", "\\# not"):
            assert escaped in text
        # Not auto-linked: a zero-width space after the scheme's colon.
        assert "https://evil" not in text and f"https:{ZWSP}//evil" in text
        # No heading or quote from a line of the ticket.
        assert not re.search(r"^\s*(h[1-6]|bq)\.\s*(Heading|nor)", text, re.M)
        assert f"h{ZWSP}1. Heading" in text and f"b{ZWSP}q. nor a quote" in text
        assert not re.search(r"^[*#-]+ (not a list|nor this)", text, re.M)


def test_markdown_is_inert() -> None:
    own_link = re.compile(r"\[CHG-4\d\]\(<https://jira\.example\.com/browse/CHG-4\d>\)")
    for text in all_renderings("md"):
        text = own_link.sub("", text)
        assert "](" not in text
        assert not unescaped(text, "<http")
        assert not unescaped(text, "<script")
        assert not unescaped(text, "[click")
        assert not unescaped(text, "*Urgent*")
        # URLs, e-mail addresses and mentions only inside code spans (never auto-linked).
        outside_code = re.sub(r"(?<!\\)`[^`]*`", "", text)
        for live in ("://", "www.", "@"):
            assert live not in outside_code, live
        for live in ("`https://evil.example`", "`www.example.org`", "`ops@example.com`"):
            assert live in text
        assert "`@here`" in text
        assert not re.search(r"^#+ Heading|^- nor this|^1\. nor this|^# not a list", text, re.M)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_html_is_inert() -> None:
    allowed = {"h1", "h2", "h3", "h4", "p", "ul", "li", "strong", "a", "br", "section"}
    for text in all_renderings("html"):
        assert "<script" not in text
        assert "<b>" not in text
        parser = Tags()
        parser.feed(text)
        assert {tag for tag, _ in parser.tags} <= allowed
        hrefs = [dict(attrs)["href"] for tag, attrs in parser.tags if tag == "a"]
        assert all(h is not None and h.startswith("https://jira.example.com/") for h in hrefs)


def adf_nodes(node: Any) -> list[dict[str, Any]]:
    out = []
    if isinstance(node, dict):
        out.append(node)
        for value in node.values():
            out += adf_nodes(value)
    elif isinstance(node, list):
        for value in node:
            out += adf_nodes(value)
    return out


def test_adf_is_inert_and_verbatim() -> None:
    for text in all_renderings("adf"):
        doc = json.loads(text)
        assert doc["type"] == "doc" and doc["version"] == 1
        nodes = adf_nodes(doc)
        kinds = {n.get("type") for n in nodes}
        assert not kinds & {"mention", "inlineCard", "blockCard", "embedCard", "emoji"}
        marks = {m["type"] for n in nodes for m in n.get("marks", [])}
        assert marks <= {"strong"}
        assert all(n["text"] for n in nodes if n.get("type") == "text")  # ADF: no empty text
    doc = json.loads(render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="adf"))
    assert doc["content"][0]["content"][0]["text"] == HOSTILE_TITLE  # verbatim


def test_txt_and_sn() -> None:
    for text in all_renderings("txt") + all_renderings("sn"):
        assert "\x07" not in text and "\x1b" not in text and "\u202e" not in text
    for text in all_renderings("sn"):
        assert not re.search(r"\[/?code\]", text, re.I)
        assert f"[{ZWSP}code]<b>x</b>[{ZWSP}/code]" in text
        assert "[cc:" not in text
    assert "[cc" not in render_change(
        make_change(title="x [cc:release-note:public]"), audience=Audience.ALL_USERS, fmt="sn"
    )


def test_unicode_survives_every_format() -> None:
    for fmt in FORMATS:
        text = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt=fmt)
        if fmt == "adf":
            text = json.dumps(json.loads(text), ensure_ascii=False)
        for word in ("Zürich", "résumé", "日本語", "👩\u200d💻"):
            assert word in text, (fmt, word)


# --- internal details stay internal ---------------------------------------------------------

SECRETS = ("RollbackSecret", "ImplSecret", "SecnoteSecret", REQUESTER, "jira.example.com")


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_notes_carry_no_internal_details(fmt: str) -> None:
    public = [a for a in Audience if not is_internal(a)]
    for audience in public:
        texts = [
            render_change(HOSTILE, audience=audience, fmt=fmt),
            render_release("2026.11", RELEASE, audience=audience, fmt=fmt),
        ]
        for text in texts:
            for secret in SECRETS:
                assert secret not in text, (audience, secret)
            assert "CHG-42" not in text and "CHG\\-42" not in text
    internal = render_change(HOSTILE, audience=Audience.ENGINEERING, fmt=fmt)
    if fmt == "adf":
        internal = json.dumps(json.loads(internal), ensure_ascii=False)
    for secret in SECRETS:
        assert secret in internal, secret


def test_only_engineering_is_internal() -> None:
    assert [a for a in Audience if is_internal(a)] == [Audience.ENGINEERING]

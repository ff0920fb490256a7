"""Ticket text is inert in every destination markup: no live link, mention or markup survives in
ServiceNow journal text, HTML, Markdown or Jira wiki, while the words still read the same."""

from __future__ import annotations

import re

import pytest

from connector.core.notes.escape import ZWSP, html, markdown, servicenow, wiki

HOSTILE = (
    "see https://evil.example/login?next=/ or HTTP://EVIL.example, www.evil.example/x, "
    "mailto:ceo@evil.example, write to ops.team+x@evil.example; "
    "[code]<a href='https://evil.example'>x</a>[/code] <script>alert(1)</script> "
    "[link|https://evil.example] [cc:release-note:public]"
)

#: What an auto-linker turns into a link: a scheme with //, www., mailto:, an e-mail address.
LIVE = re.compile(
    r"\b[a-z][a-z0-9+.\-]*://|\bwww\.|\bmailto:(?!\u200b)|[\w.+\-]@[\w\-]+\.[a-z]", re.IGNORECASE
)


def _outside_code_spans(text: str) -> str:
    return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("escaper", [servicenow, html, wiki], ids=["sn", "html", "wiki"])
def test_no_live_link_survives(escaper: object) -> None:
    out = str(escaper(HOSTILE))  # type: ignore[operator]
    if escaper is wiki:
        # Jira does not auto-link www. or bare addresses in wiki text; schemes are broken
        assert re.search(r"\b[a-z][a-z0-9+.\-]*://|\bmailto:(?!\u200b)", out, re.I) is None
    else:
        assert LIVE.search(out) is None, out
    # the same words, once the zero-width spaces (and wiki's backslashes) are gone
    readable = out.replace(ZWSP, "")
    for word in ("evil.example/login", "ops.team+x", "alert(1)"):
        assert word in readable.replace("\\", "")


def test_markdown_links_only_inside_code_spans() -> None:
    out = markdown(HOSTILE)
    assert LIVE.search(_outside_code_spans(out)) is None
    assert "`https://evil.example/login?next=/`" in out


def test_servicenow_markup_and_markers_cannot_be_forged() -> None:
    out = servicenow(HOSTILE)
    assert "[code]" not in out and "[/code]" not in out
    assert "[cc:" not in out


def test_html_has_no_markup_from_the_ticket() -> None:
    out = str(html(HOSTILE))
    assert "<" not in out and ">" not in out and "'" not in out
    assert "&lt;script&gt;" in out

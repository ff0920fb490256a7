"""The per-format escapers of ticket text (release notes)."""

from __future__ import annotations

import pytest

from connector.core.mapping.markup import wiki_to_text
from connector.core.notes.escape import ZWSP, clean, markdown, plain, servicenow, wiki


def test_clean_drops_control_and_bidi_characters_only() -> None:
    assert clean("a\x00b\x07c\x1b[1m\x7f\x85d\u202ee\u2066f\r\ng\rh\ti") == "abc[1mdef\ng\nh\ti"
    kept = "Zürich 日本語 👩\u200d💻 \u200c"
    assert clean(kept) == kept


@pytest.mark.parametrize(
    "value",
    [
        "*bold* _it_ -strike- +under+ ^sup^ ~sub~ ??cite?? {{mono}} {code}x{code}",
        "[~accountid:5b10ac8d82e05b22cc7d4ef5] [~jsmith] [text|https://evil.example] [#anchor]",
        "!image.png! !image.png|thumbnail! ||head|| |cell|",
        "h1. a\nh6. b\nbq. c\n* d\n# e\n- f\n----",
        "C:\\temp\\\\share \\[x] \\\\",
        "2026-11-21 snake_case a+b x^2",
    ],
)
def test_wiki_reads_back_as_the_same_words(value: str) -> None:
    """The connector's own wiki reader finds no markup in escaped text, only the words."""
    assert wiki_to_text(wiki(value)).replace(ZWSP, "") == value


def test_wiki_specials() -> None:
    assert wiki("[~jsmith]") == "\\[\\~jsmith\\]"
    assert wiki("[a|http://x]") == f"\\[a\\|http:{ZWSP}//x\\]"
    assert wiki("mailto:a@b.example") == f"mailto:{ZWSP}a@b.example"
    assert wiki("h3. x\n  bq. y") == f"h{ZWSP}3. x\n  b{ZWSP}q. y"
    assert wiki("a\\\\b") == f"a\\{ZWSP}\\{ZWSP}b"  # no `\\` line break, no escape of our escapes
    assert wiki("\\*") == f"\\{ZWSP}\\*"


def test_markdown_specials() -> None:
    assert markdown("*a* _b_ `c` [d](e) <f> #g !h |i| ~j~ &k \\l") == (
        "\\*a\\* \\_b\\_ \\`c\\` \\[d\\]\\(e\\) \\<f\\> \\#g \\!h \\|i\\| \\~j\\~ \\&k \\\\l"
    )
    # Block markers only where they start a line; dates and hyphens elsewhere stay readable.
    assert markdown("- a\n  + b\n= c\n10. d\n    code\n2026-11-21 e-f") == (
        "\\- a\n\\+ b\n\\= c\n10\\. d\ncode\n2026-11-21 e-f"
    )


def test_markdown_links_and_mentions_go_in_code_spans() -> None:
    assert markdown("see https://evil.example/a?b=c.") == "see `https://evil.example/a?b=c`."
    assert markdown("<http://x.example>") == "\\<`http://x.example`\\>"
    assert markdown("www.x.example, a.b@c.example") == "`www.x.example`, `a.b@c.example`"
    assert markdown("ping @here and @org/team!") == "ping `@here` and `@org/team`\\!"
    assert markdown("x@y") == "x@y"  # not an address, not a mention
    # Adjacent matches make one code span (two would read as one double-backtick fence).
    assert markdown("a@b.c+d@e.f") == "`a@b.c+d@e.f`"
    assert markdown("`@x`") == "\\``@x`\\`"


def test_plain_and_servicenow() -> None:
    assert plain("*a* [code]<b>x</b>[/code]\x07") == "*a* [code]<b>x</b>[/code]"
    sn = servicenow("[code]<b>x</b>[/CODE] [cc:release-note:public]")
    assert sn == f"[{ZWSP}code]<b>x</b>[{ZWSP}/CODE] [{ZWSP}cc:release-note:public]"

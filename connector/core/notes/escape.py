"""Ticket text -> text that is inert in one output markup.

Every escaper first `clean`s: CRLF to LF, C0/C1 control characters (but tab and newline) and
the bidirectional embedding/override/isolate characters (which can make text read differently
from what it is) are dropped. Then, per markup:

- `wiki` (Jira wiki markup, REST v2): every special character (`* _ - + ^ ~ ? { } [ ] | ! #`)
  is backslash-escaped, so no effect, list, table, macro (`{code}`), image, link (`[a|url]`) or
  mention (`[~accountid:x]`) can form. A backslash from the ticket is followed by a zero-width
  space, so it can neither escape our escapes nor pair into a `\\` line break; `h1.`..`h6.` and
  `bq.` at a line start get a zero-width space after the `h`/`b`; `scheme://` and `mailto:` get
  one after the colon, so Jira does not auto-link them.
- `markdown` (CommonMark/GFM): ASCII punctuation that can start markup is backslash-escaped
  (and `- + =` and `1.` at a line start, where they make lists, rules and headings); leading
  indentation is dropped (no code blocks). URLs (`scheme://...`, `www.`, `mailto:`), e-mail
  addresses and `@mentions` are wrapped in code spans: no renderer auto-links or notifies inside
  code, where backslash escapes would not stop post-render filters (GitHub's, for one).
- `html`: markupsafe.escape, then links are broken as for `servicenow` (mail clients and
  viewers auto-link URLs in HTML text too).
- `plain` (e-mail text): nothing beyond `clean`.
- `servicenow` (journal text): a zero-width space after every `[`, so `[code]...[/code]` (which
  a journal renders as HTML) and the connector's own `[cc:<marker>]` tags cannot be forged; and
  bare links are broken as in `wiki`: a zero-width space after `scheme:` (before `//`), after
  `mailto:` and inside `www.`, and before the `@` of an e-mail address, so the journal does not
  auto-link them.

Values that are already `markupsafe.Markup` are the template's own markup and pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

ZWSP = "\u200b"

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_WIKI_SPECIAL = "*_-+^~?{}[]|!#"
_WIKI_ESCAPED = str.maketrans({c: "\\" + c for c in _WIKI_SPECIAL})  # each one backslashed
_WIKI_BLOCK = re.compile(r"^([ \t]*(?:h(?=[1-6]\.)|b(?=q\.)))", re.M | re.I)
_WIKI_SCHEME = re.compile(r"\b([a-z][a-z0-9+.\-]*:)(?=//)|\b(mailto:)", re.I)

_LINK_BREAK = re.compile(
    r"\b([a-z][a-z0-9+.\-]*:)(?=//)|\b(mailto:)|\b(www)(?=\.)|(?<=[\w.+\-])(?=@[\w\-]+\.)",
    re.I,
)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~&])")
_MD_BLOCK = re.compile(r"^([-+=])|^(\d+)\.")
_URL = r"[^\s<>`\[\]|\"']*(?<![.,;:!?)])"  # trailing punctuation is not part of a URL
_MD_LIVE = re.compile(
    rf"\b[a-z][a-z0-9+.\-]*://{_URL}"
    rf"|\b(?:www\.|mailto:|xmpp:)\w{_URL}"
    r"|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
    r"|(?<!\w)@[\w\-./]*\w",
    re.I,
)


def clean(text: str) -> str:
    """CRLF/CR to LF; control and bidi-override characters dropped."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def wiki(text: str) -> str:
    text = clean(text).replace("\\", "\\" + ZWSP)
    text = text.translate(_WIKI_ESCAPED)
    # A block start needs a "." and a scheme a ":": a text without them skips that search.
    if "." in text:
        text = _WIKI_BLOCK.sub(lambda m: m[1] + ZWSP, text)
    if ":" in text:
        text = _WIKI_SCHEME.sub(lambda m: (m[1] or m[2]) + ZWSP, text)
    return text


def markdown(text: str) -> str:
    text = clean(text)
    spans: list[list[int]] = []
    for m in _MD_LIVE.finditer(text):
        if spans and spans[-1][1] == m.start():
            spans[-1][1] = m.end()  # adjacent spans make one (`a``b` would be one fence)
        else:
            spans.append([m.start(), m.end()])
    out: list[str] = []
    start = 0
    for begin, end in spans:
        out.append(_md_text(text[start:begin], line_start=_at_line_start(text, start)))
        out.append(f"`{text[begin:end]}`")
        start = end
    out.append(_md_text(text[start:], line_start=_at_line_start(text, start)))
    return "".join(out)


def _at_line_start(text: str, index: int) -> bool:
    return index == 0 or text[index - 1] == "\n"


def _md_text(text: str, *, line_start: bool) -> str:
    lines = _MD_SPECIAL.sub(r"\\\1", text).split("\n")
    for i in range(0 if line_start else 1, len(lines)):
        line = lines[i].lstrip(" \t")
        lines[i] = _MD_BLOCK.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\.", line)
    return "\n".join(lines)


def html(text: str) -> Markup:
    return Markup(_break_links(str(escape(clean(text)))))


def plain(text: str) -> str:
    return clean(text)


def servicenow(text: str) -> str:
    return _break_links(clean(text).replace("[", "[" + ZWSP))


def _break_links(text: str) -> str:
    """A zero-width space where an auto-linker would start a link (scheme, www., e-mail)."""
    return _LINK_BREAK.sub(lambda m: (m[1] or m[2] or m[3] or "") + ZWSP, text)


ESCAPERS: dict[str, Callable[[str], str]] = {
    "wiki": wiki,
    "md": markdown,
    "html": html,
    "txt": plain,
    "sn": servicenow,
}

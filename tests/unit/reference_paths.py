"""Straightforward versions of code that has fast paths, kept as the oracle the tests compare
the fast code with: same input, same output (or the same error), by construction of the test.

Not used by the product. When the behaviour changes on purpose, change both.
"""

from __future__ import annotations

from connector.mapping import markup


def wiki_to_text(text: str) -> str:
    """Every wiki rule on every text, in order (markup.wiki_to_text skips rules that cannot
    match)."""
    text = text.replace("\r\n", "\n").replace(markup._OPEN, "").replace(markup._CLOSE, "")
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"{markup._OPEN}{len(kept) - 1}{markup._CLOSE}"

    text = markup._CODE_BLOCK.sub(lambda m: keep(m.group(2)), text)
    text = markup._MONOSPACE.sub(lambda m: keep(m.group(1)), text)
    text = markup._LINE_BREAK.sub("\n", text)
    text = markup._ESCAPE.sub(lambda m: keep(m.group(1)), text)
    text = markup._MACRO.sub("", text)
    text = markup._MENTION.sub(lambda m: keep("@" + m.group(1).strip()), text)
    text = markup._ALIAS_LINK.sub(lambda m: m.group(1).strip(), text)
    text = markup._BARE_LINK.sub(lambda m: keep(m.group(1).strip()), text)
    text = markup._IMAGE.sub(lambda m: keep(m.group(1)), text)
    text = markup._RULE.sub("", text)
    text = markup._HEADING.sub("", text)
    text = markup._TABLE_ROW.sub(
        lambda m: " | ".join(c.strip() for c in markup._TABLE_CELL.split(m[1])), text
    )
    text = markup._BULLET.sub("- ", text)
    for _ in range(4):
        before = text
        for _marker, effect in markup._EFFECTS:
            text = effect.sub(r"\1", text)
        if text == before:
            break
    for _ in range(3):
        text = markup._PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
    return tidy(text)


def tidy(text: str) -> str:
    return markup._BLANK_LINES.sub("\n\n", markup._TRAILING_SPACE.sub("", text)).strip()

"""The fast paths of normalize agree with the straightforward code in `reference_paths`."""

from __future__ import annotations

import random

import pytest
import reference_paths

from connector.mapping import wiki_to_text
from connector.mapping.markup import tidy
from connector.sandbox.scenario import generate

# Wiki syntax, whitespace and the private-use placeholders, mixed with words and punctuation.
PIECES = [
    *"*_?-+^~{}[]|!#\\.:~@",
    " ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n", "\ue000", "\ue001", "0",
    "{code}", "{code:java}", "{noformat}", "{{", "}}", "{quote}", "{panel:title=x}", "{color:red}",
    "[~", "[~accountid:", "|http://x]", "[^", "[#", "h1.", "h3. ", "bq. ", "----", "||", "??",
    "x.png", "!a.png|thumb!", "\\\\", "* ", "# ", "- ", "** ",
    "word", "snake_case", "2026-11-21", "CHG-1", "a", "Déjà", "🚀",
]  # fmt: skip


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(0, 24))) for _ in range(count)]


@pytest.mark.parametrize("seed", range(4))
def test_wiki_to_text_agrees_with_every_rule_on_every_text(seed: int) -> None:
    for text in random_texts(2500, seed):
        assert wiki_to_text(text) == reference_paths.wiki_to_text(text), repr(text)


def test_wiki_to_text_agrees_on_the_scenario_texts() -> None:
    for change in generate(300, random_seed=1):
        for text in (change.description, change.title, change.rollback_plan):
            assert wiki_to_text(text) == reference_paths.wiki_to_text(text), repr(text)


@pytest.mark.parametrize(
    "text", ["a \nb", "a\t\n\n\n\nb", "  x  ", "\n\n\nx\n\n\n", "a \n \n \nb", "x\n\n\n  "]
)
def test_tidy_agrees(text: str) -> None:
    assert tidy(text) == reference_paths.tidy(text)

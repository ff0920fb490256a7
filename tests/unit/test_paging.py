"""Paginators end only on the documented end of results, and refuse a server that would loop."""

from __future__ import annotations

import pytest

from connector.core.errors import PermanentError
from connector.core.paging import EMPTY_PAGES_ALLOWED, OffsetPaginator, TokenPaginator


def test_token_paginator_follows_tokens_until_a_page_has_none() -> None:
    pages = TokenPaginator()
    pages.advance(next_token="a", received=50)
    assert (pages.token, pages.finished) == ("a", False)
    pages.advance(next_token="b", received=50)
    assert (pages.token, pages.finished) == ("b", False)
    pages.advance(next_token=None, received=3)
    assert pages.finished


def test_token_paginator_a_null_or_empty_token_is_the_end() -> None:
    for last in (None, ""):
        pages = TokenPaginator()
        pages.advance(next_token=last, received=0)
        assert pages.finished


def test_token_paginator_keeps_going_on_short_pages() -> None:
    pages = TokenPaginator()
    pages.advance(next_token="a", received=1)
    assert not pages.finished and pages.token == "a"


def test_token_paginator_raises_on_repeated_token() -> None:
    pages = TokenPaginator()
    pages.advance(next_token="a", received=5)
    pages.advance(next_token="b", received=5)
    with pytest.raises(PermanentError, match="repeated page token"):
        pages.advance(next_token="a", received=5)


def test_token_paginator_tolerates_a_few_empty_pages_but_not_an_endless_run() -> None:
    pages = TokenPaginator()
    for n in range(EMPTY_PAGES_ALLOWED):
        pages.advance(next_token=f"t{n}", received=0)
    assert not pages.finished
    pages.advance(next_token="full", received=10)  # items reset the run
    for n in range(EMPTY_PAGES_ALLOWED):
        pages.advance(next_token=f"u{n}", received=0)
    with pytest.raises(PermanentError, match="no progress"):
        pages.advance(next_token="again", received=0)


def test_offset_paginator_ends_when_the_offset_reaches_total() -> None:
    pages = OffsetPaginator()
    pages.advance(received=50, total=120, start_at=0)
    pages.advance(received=50, total=120, start_at=50)
    assert (pages.offset, pages.finished) == (100, False)
    pages.advance(received=20, total=120, start_at=100)
    assert (pages.offset, pages.finished) == (120, True)


def test_offset_paginator_a_short_page_is_not_the_end() -> None:
    """An admin lowered the server's maximum: 20 per page although 50 were asked."""
    pages = OffsetPaginator()
    for expected in (20, 40, 60):
        pages.advance(received=20, total=70)
        assert (pages.offset, pages.finished) == (expected, False)
    pages.advance(received=10, total=70)
    assert pages.finished


def test_offset_paginator_without_total_ends_on_an_empty_page_only() -> None:
    pages = OffsetPaginator()
    pages.advance(received=7)
    pages.advance(received=3)
    assert (pages.offset, pages.finished) == (10, False)
    pages.advance(received=0)
    assert (pages.offset, pages.finished) == (10, True)


def test_offset_paginator_an_empty_page_ends_even_if_total_says_more() -> None:
    pages = OffsetPaginator()
    pages.advance(received=10, total=30)
    pages.advance(received=0, total=30)
    assert (pages.offset, pages.finished) == (10, True)


def test_offset_paginator_refuses_a_page_that_does_not_start_where_asked() -> None:
    pages = OffsetPaginator()
    pages.advance(received=10, total=30, start_at=0)
    with pytest.raises(PermanentError, match="startAt=0 when asked for startAt=10"):
        pages.advance(received=10, total=30, start_at=0)


def test_a_page_that_starts_like_the_one_before_is_an_error() -> None:
    tokens = TokenPaginator()
    tokens.advance(next_token="a", received=2, first="10001")
    with pytest.raises(PermanentError, match="10001 again"):
        tokens.advance(next_token="b", received=2, first="10001")
    offsets = OffsetPaginator()
    offsets.advance(received=2, first="10001")
    offsets.advance(received=2, first="10003")
    with pytest.raises(PermanentError, match="no progress"):
        offsets.advance(received=2, first="10003")


def test_offset_paginator_asked_for_a_page_size_still_reads_short_pages() -> None:
    pages = OffsetPaginator(page_size=100)
    pages.advance(received=30, total=75)
    pages.advance(received=30, total=75)
    assert (pages.offset, pages.finished) == (60, False)
    pages.advance(received=15, total=75)
    assert pages.finished

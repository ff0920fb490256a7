"""Paginators shape requests only, and refuse a server that repeats a page token."""

from __future__ import annotations

import pytest

from connector.errors import PermanentError
from connector.paging import OffsetPaginator, TokenPaginator


def test_token_paginator_follows_tokens_until_last() -> None:
    pages = TokenPaginator()
    pages.advance(next_token="a", is_last=False)
    assert (pages.token, pages.finished) == ("a", False)
    pages.advance(next_token="b", is_last=True)
    assert pages.finished


def test_token_paginator_raises_on_repeated_token() -> None:
    pages = TokenPaginator()
    pages.advance(next_token="a", is_last=False)
    with pytest.raises(PermanentError, match="repeated page token"):
        pages.advance(next_token="a", is_last=False)


def test_offset_paginator_stops_on_total_or_short_page() -> None:
    pages = OffsetPaginator(page_size=50)
    pages.advance(received=50, total=120)
    pages.advance(received=50, total=120)
    assert (pages.offset, pages.finished) == (100, False)
    pages.advance(received=20, total=120)
    assert pages.finished
    short = OffsetPaginator(page_size=50)
    short.advance(received=49)
    assert short.finished

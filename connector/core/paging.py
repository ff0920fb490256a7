"""Pagination as a small value: where the next page starts, and when the results end.

Adapters ask a paginator for the next request's parameters and feed it each response; it never
does I/O. Each paginator ends only on the end-of-results signal its API documents, never on a
page that is shorter than asked: servers may send fewer items than `maxResults` (Jira Cloud when
many fields are requested, Data Center when an admin lowered the maximum). A server that would
send pages forever (a repeated token, a page that does not start where asked, the same page
again, a run of empty pages) is an error instead of a loop, as Singer SDK's paginators do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.core.errors import PermanentError

EMPTY_PAGES_ALLOWED = 3  # token pages in a row that carry no items but a new token


@dataclass
class TokenPaginator:
    """Jira Cloud `/search/jql`: follow `nextPageToken` until a page comes without one.

    Atlassian documents the end as the absence of `nextPageToken` ("not included in the
    response for the last page"); `isLast` is optional in the schema and is not read, so a
    page without it (or with `isLast: true` beside a token) never ends the search early.
    """

    where: str = "paging"  # names the source and the call in errors
    token: str | None = None
    finished: bool = False
    _seen: set[str] = field(default_factory=set)
    _empty_run: int = 0
    _first: str | None = None

    def advance(self, *, next_token: str | None, received: int, first: str | None = None) -> None:
        """Take in a page: the token it carries, how many items, the id of its first item."""
        self._first = _check_progress(self._first, first, self.where)
        if not next_token:
            self.finished = True
            return
        if next_token in self._seen:
            raise PermanentError(
                f"{self.where}: the server repeated page token {next_token[:16]}..."
            )
        self._empty_run = self._empty_run + 1 if received == 0 else 0
        if self._empty_run > EMPTY_PAGES_ALLOWED:
            raise PermanentError(
                f"{self.where}: the server sent {self._empty_run} empty pages in a row, each "
                "with a new page token: the search makes no progress"
            )
        self._seen.add(next_token)
        self.token = next_token


@dataclass
class OffsetPaginator:
    """Jira Data Center `/search` and comment pages: `startAt` moves by the items received.

    The end is `startAt >= total` when the page says `total`, or an empty page; a short page is
    not the end (an admin can lower the server's maximum page size below `maxResults`).
    """

    where: str = "paging"  # names the source and the call in errors
    page_size: int | None = None  # what each request asks for; a shorter page is not the end
    offset: int = 0
    finished: bool = False
    _first: str | None = None

    def advance(
        self,
        *,
        received: int,
        total: int | None = None,
        start_at: int | None = None,
        first: str | None = None,
    ) -> None:
        """Take in a page: how many items, its `total` and `startAt` if it says them, and the
        id of its first item."""
        if start_at is not None and start_at != self.offset:
            raise PermanentError(
                f"{self.where}: the server sent the page at startAt={start_at} when asked for "
                f"startAt={self.offset}"
            )
        self._first = _check_progress(self._first, first, self.where)
        self.offset += received
        if received == 0 or (total is not None and self.offset >= total):
            self.finished = True


def _check_progress(previous: str | None, first: str | None, where: str) -> str | None:
    """The page's first item id, after refusing a page that starts like the one before it
    (a server that ignores the paging parameters sends the same page forever)."""
    if first is not None and first == previous:
        raise PermanentError(
            f"{where}: the server sent the page starting at {first[:32]} again: the paging "
            "makes no progress"
        )
    return first

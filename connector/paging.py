"""Pagination as a small value: the next page token, and a guard against servers that loop.

Adapters ask a paginator for the next request's parameters and feed it each response; it never
does I/O. A repeated token means the server would send the same page again forever, so it raises
instead of looping (as Singer SDK's paginators do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.errors import PermanentError


@dataclass
class TokenPaginator:
    """Jira Cloud `/search/jql`: `nextPageToken` until `isLast` (no totals)."""

    token: str | None = None
    finished: bool = False
    _seen: set[str] = field(default_factory=set)

    def advance(self, *, next_token: str | None, is_last: bool) -> None:
        if is_last or not next_token:
            self.finished = True
            return
        if next_token in self._seen:
            raise PermanentError(f"the server repeated page token {next_token[:16]}...")
        self._seen.add(next_token)
        self.token = next_token


@dataclass
class OffsetPaginator:
    """Jira Data Center `/search` (startAt/total) and ServiceNow (sysparm_offset)."""

    page_size: int
    offset: int = 0
    finished: bool = False

    def advance(self, *, received: int, total: int | None = None) -> None:
        self.offset += received
        if (
            received == 0
            or received < self.page_size
            or (total is not None and self.offset >= total)
        ):
            self.finished = True

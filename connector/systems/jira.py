"""Jira adapter (Cloud and Data Center) on the `jira` client: read issues, fields, transitions.

The deployment is read from serverInfo: Cloud searches `/search/jql` with token paging (the old
`/search` is gone there), Data Center `/search` with startAt/total. The client's own retries
are off (`max_retries=0`) and every request has a timeout, so that one retry policy owns retries.
Pages are yielded as they arrive; nothing here holds more than one page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jira import JIRA, JIRAError
from requests import RequestException

from connector.errors import ConfigError, PermanentError, TransientError
from connector.model import SystemKind
from connector.paging import OffsetPaginator, TokenPaginator
from connector.settings import SourceSettings

_RETRYABLE = {429, 502, 503, 504}


class JiraAdapter:
    def __init__(self, name: str, settings: SourceSettings) -> None:
        self.name = name
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        with translate_errors(name):
            self.client = JIRA(
                server=self.base_url,
                basic_auth=(settings.username, settings.token.get_secret_value()),
                options={"verify": settings.verify, "check_update": False},
                max_retries=0,
                timeout=settings.timeout_seconds,
                get_server_info=True,
            )
        self.kind = (
            SystemKind.JIRA_CLOUD
            if self.client.deploymentType == "Cloud"
            else SystemKind.JIRA_DATACENTER
        )

    def close(self) -> None:
        """Close the HTTP session (its keep-alive connections)."""
        self.client.close()  # type: ignore[no-untyped-call]

    def search(self, jql: str, *, fields: str = "*all") -> Iterator[dict[str, Any]]:
        """Every issue matching `jql`, page by page, as raw v2 JSON."""
        if self.kind is SystemKind.JIRA_CLOUD:
            yield from self._search_cloud(jql, fields)
        else:
            yield from self._search_datacenter(jql, fields)

    def _search_cloud(self, jql: str, fields: str) -> Iterator[dict[str, Any]]:
        pages = TokenPaginator()
        while not pages.finished:
            with translate_errors(self.name):
                page = self.client.enhanced_search_issues(
                    jql,
                    nextPageToken=pages.token,
                    maxResults=self.settings.page_size,
                    fields=fields,
                    json_result=True,
                )
            assert isinstance(page, dict)
            yield from page.get("issues", [])
            pages.advance(next_token=page.get("nextPageToken"), is_last=page.get("isLast", True))

    def _search_datacenter(self, jql: str, fields: str) -> Iterator[dict[str, Any]]:
        pages = OffsetPaginator(page_size=self.settings.page_size)
        while not pages.finished:
            with translate_errors(self.name):
                page = self.client.search_issues(
                    jql,
                    startAt=pages.offset,
                    maxResults=self.settings.page_size,
                    fields=fields,
                    json_result=True,
                )
            assert isinstance(page, dict)
            issues = page.get("issues", [])
            yield from issues
            pages.advance(received=len(issues), total=page.get("total"))

    def issue(self, key: str) -> dict[str, Any]:
        with translate_errors(self.name):
            raw: dict[str, Any] = self.client.issue(key).raw
        return raw

    def field_ids(self) -> set[str]:
        with translate_errors(self.name):
            return {f["id"] for f in self.client.fields()}

    def transition_names(self, keys: Iterable[str]) -> set[str]:
        """Names of the transitions available on any of these issues."""
        names: set[str] = set()
        for key in keys:
            with translate_errors(self.name):
                names.update(t["name"] for t in self.client.transitions(key))
        return names


class translate_errors:
    """Turn client exceptions into errors named by what the caller does next."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, JIRAError):
            raise _from_status(self.source, exc.status_code, exc.text or "", exc) from None
        if isinstance(exc, RequestException):
            raise TransientError(
                f"{self.source}: cannot reach Jira: {type(exc).__name__}"
            ) from None


def _from_status(source: str, status: int | None, text: str, exc: JIRAError) -> Exception:
    summary = f"{source}: Jira answered {status}: {text.strip()[:200]}"
    if status in (401, 403):
        return ConfigError(
            f"{source}: Jira refused the credentials ({status}); check username/token"
        )
    if status in _RETRYABLE or status is None:
        retry_after = (exc.headers or {}).get("Retry-After") if exc.headers else None
        return TransientError(summary, retry_after=_seconds(retry_after))
    return PermanentError(summary)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None

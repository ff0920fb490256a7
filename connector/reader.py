"""Read every in-scope ticket of one source as `RawTicket`s, a page at a time.

The scope comes from the source's mapping (Jira projects / issue types / JQL; a ServiceNow table
and encoded query). For ServiceNow, each page of changes is followed by one query for the
approval rows of that page, so approvals arrive with their change and memory holds one page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from connector.mapping import Mapping, RawTicket
from connector.settings import SourceSettings
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter

Adapter = JiraAdapter | ServiceNowAdapter


def open_adapter(name: str, settings: SourceSettings) -> Adapter:
    if settings.kind == "jira":
        return JiraAdapter(name, settings)
    return ServiceNowAdapter(name, settings)


def scope_jql(mapping: Mapping, *, order: bool = True, since: str = "") -> str:
    """The JQL that selects a Jira mapping's changes (updated since `since`), oldest first."""
    scope = mapping.scope
    parts = []
    if scope.projects:
        parts.append(f"project in ({', '.join(_quote(p) for p in scope.projects)})")
    if scope.issue_types:
        parts.append(f"issuetype in ({', '.join(_quote(t) for t in scope.issue_types)})")
    if scope.jql:
        parts.append(f"({scope.jql})")
    if since:
        parts.append(since)
    jql = " AND ".join(parts)
    return f"{jql} ORDER BY updated ASC, key ASC" if order else jql


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_all(adapter: Adapter, mapping: Mapping, *, since: str = "") -> Iterator[RawTicket]:
    """Every in-scope ticket, oldest update first; `since` is a JQL / encoded-query clause."""
    if isinstance(adapter, JiraAdapter):
        for issue in adapter.search(scope_jql(mapping, since=since)):
            yield RawTicket(data=issue)
        return
    table = mapping.scope.approvals_table
    query = "^".join(part for part in (mapping.scope.query, since) if part)
    for page in batched(adapter.changes(query), adapter.settings.page_size):
        sys_ids = [_value(row.get("sys_id")) for row in page]
        approvals = adapter.approvals(sys_ids, table=table)
        for row, sys_id in zip(page, sys_ids, strict=True):
            yield RawTicket(data=row, related={table: approvals.get(sys_id, [])})


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """itertools.batched, which Python 3.11 lacks."""
    it = iter(items)
    while chunk := tuple(islice(it, size)):
        yield chunk


def _value(cell: object) -> str:
    return str(cell.get("value", "")) if isinstance(cell, dict) else str(cell or "")

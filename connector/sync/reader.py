"""Read every in-scope ticket of one source as `RawTicket`s, a page at a time.

The scope comes from the source's mapping (Jira projects / issue types / JQL; a ServiceNow table
and encoded query). For ServiceNow, each page of changes is followed by one query for the
approval rows of that page, so approvals arrive with their change and memory holds one page.
Tickets re-read after the worker's own writes come back in bulk, a search per chunk of keys.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

from connector.core.mapping import (
    Mapping,
    RawTicket,
    has_names,
    referenced_fields,
    resolve_names,
)
from connector.settings import SourceSettings
from connector.systems.jira import JiraAdapter
from connector.systems.paths import query_value
from connector.systems.servicenow import ServiceNowAdapter

Adapter = JiraAdapter | ServiceNowAdapter


def open_adapter(name: str, settings: SourceSettings) -> Adapter:
    if settings.kind == "jira":
        return JiraAdapter(name, settings)
    return ServiceNowAdapter(name, settings)


def site_mapping(adapter: Adapter, mapping: Mapping, *, file: str) -> Mapping:
    """The mapping with Jira fields named by name resolved against this site's fields."""
    if isinstance(adapter, JiraAdapter) and has_names(mapping):
        return resolve_names(mapping, adapter.field_names(), file=file)
    return mapping


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
        for issue in adapter.search(
            scope_jql(mapping, since=since), fields=sorted(referenced_fields(mapping))
        ):
            yield RawTicket(data=issue)
        return
    table = mapping.scope.approvals_table
    query = "^".join(part for part in (mapping.scope.query, since) if part)
    for page in batched(adapter.changes(query), adapter.settings.page_size):
        sys_ids = [_value(row.get("sys_id")) for row in page]
        approvals = adapter.approvals(sys_ids, table=table)
        for row, sys_id in zip(page, sys_ids, strict=True):
            yield RawTicket(data=row, related={table: approvals.get(sys_id, [])})


def fetch_in_scope(adapter: Adapter, mapping: Mapping, key: str) -> RawTicket | None:
    """One ticket re-read by key (a webhook is only a hint), or None when it is not a change in
    the mapping's scope: a Jira admin webhook fires for every issue its filter matches, and a
    ServiceNow business rule for whatever its author chose."""
    scope = mapping.scope
    if isinstance(adapter, JiraAdapter):
        raw = adapter.fetch(key)
        fields = raw.data.get("fields") or {}
        project = (fields.get("project") or {}).get("key")
        issue_type = (fields.get("issuetype") or {}).get("name")
        if scope.projects and project not in scope.projects:
            return None
        if scope.issue_types and issue_type not in scope.issue_types:
            return None
        if scope.jql:  # only the site can evaluate JQL: ask it about this one issue
            jql = f"{scope_jql(mapping, order=False)} AND key = {_quote(key)}"
            return raw if any(True for _ in adapter.search(jql, fields="key")) else None
        return raw
    raw = adapter.fetch(key, approvals_table=scope.approvals_table)
    if scope.query:
        number = _value(raw.data.get("number"))
        if not any(True for _ in adapter.changes(f"{scope.query}^number={query_value(number)}")):
            return None
    return raw


RECONCILE_MAX = 50  # Jira Cloud's `reconcileIssues` takes at most 50 ids a search


def fetch_many(adapter: Adapter, mapping: Mapping, keys: Sequence[str]) -> list[RawTicket]:
    """The tickets `keys` names, re-read in bulk (the worker just wrote them): one search per
    chunk (Jira: the scope's JQL and `key in (...)`, Cloud's search reconciled with their ids
    so it shows the writes; ServiceNow: the scope's query and `numberIN...`, then their
    approvals at once). Tickets gone or out of scope are left out."""
    out: list[RawTicket] = []
    if isinstance(adapter, JiraAdapter):
        scope = scope_jql(mapping, order=False)
        for chunk in batched(keys, RECONCILE_MAX):
            keyed = f"key in ({', '.join(_quote(k) for k in chunk)})"
            jql = f"{scope} AND {keyed}" if scope else keyed
            found = adapter.search(
                jql, fields=sorted(referenced_fields(mapping)), reconcile=adapter.known_ids(chunk)
            )
            out.extend(RawTicket(data=issue) for issue in found)
        return out
    table = mapping.scope.approvals_table
    for chunk in batched(keys, adapter.settings.page_size):
        rows = adapter.changes_by_number(list(chunk), mapping.scope.query)
        sys_ids = [_value(row.get("sys_id")) for row in rows]
        approvals = adapter.approvals(sys_ids, table=table)
        out.extend(
            RawTicket(data=row, related={table: approvals.get(sys_id, [])})
            for row, sys_id in zip(rows, sys_ids, strict=True)
        )
    return out


def ticket_key(raw: RawTicket) -> str:
    """The key a ticket as read is known by (Jira's issue key, ServiceNow's number)."""
    return _value(raw.data.get("key") if "key" in raw.data else raw.data.get("number"))


def ticket_id(raw: RawTicket) -> str:
    """The system's own id of a ticket as read (Jira's issue id, ServiceNow's sys_id)."""
    return _value(raw.data.get("id") if "id" in raw.data else raw.data.get("sys_id"))


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """itertools.batched, which Python 3.11 lacks."""
    it = iter(items)
    while chunk := tuple(islice(it, size)):
        yield chunk


def read_ahead(items: Iterable[T], *, depth: int = 1) -> Generator[T, None, None]:
    """`items`, taken up to `depth` ahead by a thread of their own: the next page of tickets
    is fetched while the caller processes this one (the waiting on the network releases the
    interpreter). Only this thread iterates `items` (an adapter's search), and an exception
    there is raised here, in order. Closing this generator stops the thread, and waits for it:
    within a second when it waits to hand over a page, after its request (and that request's
    retries) when it is fetching one, so no search outlives the cycle that started it."""
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=1.0)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            more, value = slots.get()
            if not more:
                if isinstance(value, BaseException):
                    raise value
                return
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _value(cell: object) -> str:
    return str(cell.get("value", "")) if isinstance(cell, dict) else str(cell or "")

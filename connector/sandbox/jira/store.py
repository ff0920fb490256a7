"""The Jira simulator's records: issues, comments, issue properties and changelog histories.

Field values are kept once, in a canonical form that `render.py` turns into either API
version and deployment mode:

    option            the option's value ("Normal") or None
    array of option   list of option values
    text (textarea)   wiki-markup string or None (v3 renders it as ADF)
    user              the user's login or None
    datetime          an aware datetime (UTC) or None
    sd-approvals      list of `Approval`
    status, issuetype, project, resolution, priority: their names; fixVersions: version names

`revision` grows on every change; search caches its sorted key lists against it, so paging
through 100,000 issues sorts once, not once per page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.sandbox.jira.jql import Query


@dataclass
class Approval:
    id: int
    name: str
    approver: str  # login
    decision: str  # approved | declined | pending
    created: datetime
    completed: datetime | None


@dataclass
class ChangeItem:
    field: str  # display name ("status", "Change risk")
    field_id: str
    fieldtype: str  # jira | custom
    from_id: str | None
    from_string: str | None
    to_id: str | None
    to_string: str | None


@dataclass
class History:
    id: int
    author: str  # login
    created: datetime
    items: list[ChangeItem]


@dataclass
class Comment:
    id: int
    author: str
    update_author: str
    body: str  # wiki markup
    created: datetime
    updated: datetime
    jsd_public: bool = True
    visibility: dict[str, Any] | None = None
    properties: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Issue:
    id: int
    project: str
    number: int
    fields: dict[str, Any]
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    histories: list[History] = field(default_factory=list)
    updated_ms: int = 0
    created_ms: int = 0

    def __post_init__(self) -> None:
        self.touch(self.fields["updated"])
        self.created_ms = _ms(self.fields["created"])

    @property
    def key(self) -> str:
        return f"{self.project}-{self.number}"

    @property
    def issuetype(self) -> str:
        return str(self.fields["issuetype"])

    @property
    def status(self) -> str:
        return str(self.fields["status"])

    @property
    def resolution(self) -> str | None:
        value = self.fields.get("resolution")
        return None if value is None else str(value)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.fields.get("labels") or ())

    def touch(self, when: datetime) -> None:
        self.fields["updated"] = when
        self.updated_ms = _ms(when)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass
class Store:
    issues: dict[int, Issue] = field(default_factory=dict)
    by_key: dict[str, Issue] = field(default_factory=dict)
    next_number: dict[str, int] = field(default_factory=dict)
    next_issue_id: int = 10001
    next_comment_id: int = 10000
    next_history_id: int = 10000
    next_approval_id: int = 0
    revision: int = 0
    _search_cache: dict[tuple[str, str], tuple[int, list[int]]] = field(default_factory=dict)
    # Issues the search index has not caught up with: GET finds them, search does not yet
    # (Jira Cloud search is eventually consistent).
    unindexed: set[int] = field(default_factory=set)

    def add(self, project: str, fields: dict[str, Any]) -> Issue:
        number = self.next_number.get(project, 1)
        self.next_number[project] = number + 1
        issue = Issue(self.next_issue_id, project, number, fields)
        self.next_issue_id += 1
        self.issues[issue.id] = issue
        self.by_key[issue.key] = issue
        self.revision += 1
        return issue

    def remove(self, issue: Issue) -> None:
        """Delete an issue: gone from reads and searches; its key is not reused."""
        del self.issues[issue.id]
        del self.by_key[issue.key]
        self.unindexed.discard(issue.id)
        self.revision += 1

    def get(self, id_or_key: str) -> Issue | None:
        if id_or_key.isdigit():
            return self.issues.get(int(id_or_key))
        return self.by_key.get(id_or_key.upper())

    def new_comment_id(self) -> int:
        self.next_comment_id += 1
        return self.next_comment_id

    def new_history_id(self) -> int:
        self.next_history_id += 1
        return self.next_history_id

    def changed(self) -> None:
        self.revision += 1

    def search(self, cache_key: tuple[str, str], query: Query) -> list[int]:
        """Ids of the matching issues in query order, cached until the next change.

        Offsets into this list are what page tokens carry. After a change the list is
        rebuilt, so an issue updated mid-paging moves, as it does in real Jira: workers must
        dedupe and look back rather than trust one pass.
        """
        cached = self._search_cache.get(cache_key)
        if cached is not None and cached[0] == self.revision:
            return cached[1]
        matching = [
            i for i in self.issues.values() if i.id not in self.unindexed and query.matches(i)
        ]
        ids = [i.id for i in query.sort(matching)]
        if len(self._search_cache) > 32:
            self._search_cache.clear()
        self._search_cache[cache_key] = (self.revision, ids)
        return ids

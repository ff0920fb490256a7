"""Jira notes with their markers: the issue-property cache, marked writes and the slow check.

Every search page and re-read brings each issue's `change-connector` property along (see
`jira_markers`); `MarkerCache` keeps the notes of the issues read in this cycle, so checking a
note's marker before writing costs no call. An issue not read in this cycle (an action left
pending by an earlier one) costs one property GET.

A new note is three writes: the marker `pending` in the issue property, the comment (with the
marker in its own comment property, in the same POST), the marker `done` with the comment id and
content fingerprint. Only a `pending` marker, left by a crash between those writes, makes the
worker read comments: their ids from `GET /issue/{key}/comment`, then their properties through
what each deployment documents (Cloud: `POST /comment/list?expand=properties`, up to 1000 ids a
call; Data Center: `GET /comment/{id}/properties/change-connector`, newest comment first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jira import JIRAError

from connector.core.errors import PermanentError
from connector.core.model import SystemKind
from connector.core.paging import OffsetPaginator
from connector.systems import jira_markers
from connector.systems.jira_markers import PROPERTY_KEY, NoteMark
from connector.systems.paths import segment

if TYPE_CHECKING:
    from connector.systems.jira import JiraAdapter

COMMENT_PAGE = 100
COMMENT_LIST_IDS = 1000  # the documented maximum of `POST /comment/list`
CACHE_ISSUES = 10_000


class MarkerCache:
    """The notes of the issues read lately, newest read last; bounded, refreshed by each read.

    Held by issue id; an issue's key names the same entry (a write may name either)."""

    def __init__(self, size: int = CACHE_ISSUES) -> None:
        self.size = size
        self._notes: OrderedDict[str, tuple[str, dict[str, NoteMark]]] = OrderedDict()
        self._ids: dict[str, str] = {}  # issue key -> issue id

    def seen(self, issue: dict[str, Any]) -> None:
        """Keep the markers an issue was read with (its `properties`, when they were asked)."""
        properties = issue.get("properties")
        key, issue_id = str(issue.get("key") or ""), str(issue.get("id") or "")
        if not isinstance(properties, dict) or not (key or issue_id):
            return
        if key and issue_id:
            self._ids[key] = issue_id
        self._put(issue_id or key, key, jira_markers.parse(properties.get(PROPERTY_KEY)))

    def put(self, name: str, notes: dict[str, NoteMark]) -> None:
        """Record what this worker wrote on the issue `name` (its id or key)."""
        at = self._ids.get(name, name)
        known = self._notes.get(at)
        self._put(at, known[0] if known else "", notes)

    def get(self, name: str) -> dict[str, NoteMark] | None:
        found = self._notes.get(self._ids.get(name, name))
        return None if found is None else found[1]

    def _put(self, at: str, key: str, notes: dict[str, NoteMark]) -> None:
        self._notes[at] = (key, notes)
        self._notes.move_to_end(at)
        while len(self._notes) > self.size:
            _, (old_key, _) = self._notes.popitem(last=False)
            self._ids.pop(old_key, None)


class JiraNotes:
    """Marked notes on one Jira site, through its adapter's session and retry policy."""

    def __init__(self, adapter: JiraAdapter) -> None:
        self.adapter = adapter
        self.cache = MarkerCache()

    def marks(self, key: str) -> dict[str, NoteMark]:
        cached = self.cache.get(key)
        if cached is None:
            cached = jira_markers.parse(self.adapter.get_property(key, PROPERTY_KEY))
            self.cache.put(key, cached)
        return cached

    def find(self, key: str, marker: str) -> NoteMark | None:
        """The note `marker` names, if it is on the issue; a pending one is looked for among the
        comments (and marked done when found there)."""
        mark = self.marks(key).get(marker)
        if mark is None or not mark.pending:
            return mark
        ref = self.find_comment(key, marker)
        if ref is None:
            return None
        return self._save(
            key, marker, jira_markers.done(self.marks(key), marker, ref=ref, fp=mark.fp)
        )

    def post(self, key: str, *, body: str, marker: str, fp: str, internal: bool) -> str:
        """Mark pending, post the comment, mark done: a crash anywhere leaves a marker that
        tells the next attempt whether to look for the comment."""
        before = self.marks(key)
        self._save(key, marker, jira_markers.pending(before, marker, fp=fp))
        try:
            ref = self.adapter.post_comment(key, body=body, marker=marker, internal=internal)
        except PermanentError:  # refused for good: no comment, so no marker to look for later
            self._save(key, marker, {m: n for m, n in before.items() if m != marker})
            raise
        self._save(key, marker, jira_markers.done(self.marks(key), marker, ref=ref, fp=fp))
        return ref

    def edit(self, key: str, ref: str, *, body: str, marker: str, fp: str) -> None:
        """Edit in place, then record the new fingerprint (a crash between only edits again)."""
        self.adapter.edit_comment(key, ref, body=body)
        self._save(key, marker, jira_markers.done(self.marks(key), marker, ref=ref, fp=fp))

    def _save(self, key: str, marker: str, notes: dict[str, NoteMark]) -> NoteMark | None:
        try:
            value = jira_markers.value(notes, keep=marker)
        except ValueError as exc:
            raise PermanentError(f"{self.adapter.name}: {key}: {exc}") from None
        self.adapter.set_property(key, PROPERTY_KEY, value)
        self.cache.put(key, jira_markers.parse(value))
        return notes.get(marker)

    # -- the slow check ----------------------------------------------------------------------

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of the comment on `key` that carries `marker` in its comment property. Each
        request is retried on its own, so a fault late in a long scan repeats one request."""
        ids = list(self._comment_ids(key))
        if self.adapter.kind is SystemKind.JIRA_CLOUD:
            return self._find_listed(key, ids, marker)
        for comment_id in reversed(ids):  # newest first: a pending note is a recent one
            if _marker_in(self._comment_property(key, comment_id)) == marker:
                return comment_id
        return None

    def _rest(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.adapter._call(lambda: self.adapter._rest(method, path, **kwargs), what)

    def _comment_ids(self, key: str) -> Iterator[str]:
        pages = OffsetPaginator(page_size=COMMENT_PAGE)
        while not pages.finished:
            params = {"startAt": pages.offset, "maxResults": COMMENT_PAGE}
            page = self._rest(
                f"read comments of {key}", "GET", f"issue/{segment(key)}/comment", params=params
            )
            comments = page.get("comments", [])
            yield from (str(c["id"]) for c in comments)
            pages.advance(received=len(comments), total=page.get("total"))

    def _find_listed(self, key: str, ids: list[str], marker: str) -> str | None:
        for start in range(0, len(ids), COMMENT_LIST_IDS):
            chunk = [int(i) for i in ids[start : start + COMMENT_LIST_IDS]]
            page = self._rest(
                f"read comment properties of {key}",
                "POST",
                "comment/list",
                params={"expand": "properties"},
                body={"ids": chunk},
            )
            for comment in page.get("values", []):
                props = {p.get("key"): p.get("value") for p in comment.get("properties") or []}
                if _marker_in(props.get(PROPERTY_KEY)) == marker:
                    return str(comment["id"])
        return None

    def _comment_property(self, key: str, comment_id: str) -> Any:
        def once() -> Any:
            try:
                return self.adapter._rest(
                    "GET", f"comment/{segment(comment_id)}/properties/{PROPERTY_KEY}"
                )
            except JIRAError as exc:
                if exc.status_code == 404:
                    return None
                raise

        raw = self.adapter._call(once, f"read comment {comment_id} of {key}")
        return raw.get("value") if isinstance(raw, dict) else None


def _marker_in(value: Any) -> str | None:
    marker = value.get("marker") if isinstance(value, dict) else None
    return None if marker is None else str(marker)

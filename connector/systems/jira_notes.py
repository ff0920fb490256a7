"""Jira notes with their markers: marked writes, one request each, and the slow check.

Every search page and re-read brings each issue's `change-connector` property along (see
`jira_markers`); `MarkerCache` (`jira_seen`) keeps the notes of the issues read lately, so
checking a note's marker before writing costs no call. An issue not read lately (an action left
pending by an earlier cycle) costs one property GET.

A new note is one write: an issue edit (`PUT /issue/{key}`) whose `update.comment` adds the
comment (with the marker in its own comment property) and whose `properties` set the issue's
marker property with the note `done`, so the comment and its marker land together or not at
all: a crash at any point leaves either both or neither. Jira chooses the comment id, so the
marker is written without it; on Cloud the edit answers with the issue (`returnIssue`), whose
comments give the id, kept in the cache and carried to the property by the issue's next marked
write (a note, an edit, a transition). A write whose answer is lost is checked by reading the
issue's property (the one read outside the pages). The comments themselves are read only for a
`pending` marker (left by a crash inside a three-request post, below) and to find the id of a
note to edit whose id was never recorded: their ids from `GET /issue/{key}/comment`, then their
properties through what each deployment documents (Cloud: `POST /comment/list?expand=properties`,
up to 1000 ids a call; Data Center: `GET /comment/{id}/properties/change-connector`, newest
comment first). A note edited in place is one issue edit too (`update.comment[].edit` and the
property with its new fingerprint). An edit Jira refuses (a status whose workflow makes the
issue read-only still takes comments) is posted in three requests: marker `pending`, the
comment, marker `done` (edited in two: the comment, then the property).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jira import JIRAError

from connector.core.errors import NotFoundError, PermanentError
from connector.core.model import SystemKind
from connector.core.paging import OffsetPaginator
from connector.systems import jira_markers
from connector.systems.jira_markers import PROPERTY_KEY, NoteMark
from connector.systems.jira_seen import MarkerCache
from connector.systems.paths import segment

if TYPE_CHECKING:
    from connector.systems.jira import JiraAdapter

COMMENT_PAGE = 100
COMMENT_LIST_IDS = 1000  # the documented maximum of `POST /comment/list`

__all__ = ["JiraNotes", "MarkerCache"]


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
        notes = jira_markers.done(self.marks(key), marker, ref=ref, fp=mark.fp)
        self._save(key, marker, notes)
        return notes[marker]

    def post(self, key: str, *, body: str, marker: str, fp: str, internal: bool) -> str:
        """Post the comment and mark it done in one request; its id, or "" when Jira did not
        tell it (Data Center: its edit answers with no body). An edit Jira refuses (4xx: it
        applied nothing), as on an issue whose status its workflow makes read-only while it
        still takes comments, is posted apart instead."""
        before = self.marks(key)
        if internal or self.adapter.kind is not SystemKind.JIRA_CLOUD:
            # Jira documents a comment's properties (JSM's internal flag among them) only on the
            # comment resource, and a Data Center edit answers without the new comment's id.
            return self._post_apart(key, before, body=body, marker=marker, fp=fp, internal=internal)
        notes = jira_markers.done(before, marker, ref=None, fp=fp)
        try:
            ref = self.adapter.post_marked_comment(
                key,
                body=body,
                marker=marker,
                internal=internal,
                markers=self.value(key, marker, notes),
            )
        except NotFoundError:
            raise
        except PermanentError:
            return self._post_apart(key, before, body=body, marker=marker, fp=fp, internal=internal)
        if ref is not None:
            notes = jira_markers.done(notes, marker, ref=ref, fp=fp)
        self.cache.put(key, notes, unsaved=ref is not None)
        return ref or ""

    def _post_apart(
        self,
        key: str,
        before: dict[str, NoteMark],
        *,
        body: str,
        marker: str,
        fp: str,
        internal: bool,
    ) -> str:
        """Mark pending, post the comment, mark done: three requests, a crash anywhere leaving a
        marker that tells the next attempt whether to look for the comment."""
        self._save(key, marker, jira_markers.pending(before, marker, fp=fp))
        try:
            ref = self.adapter.post_comment(key, body=body, marker=marker, internal=internal)
        except PermanentError:  # refused for good: no comment, so no marker to look for later
            self._save(key, marker, {m: n for m, n in before.items() if m != marker})
            raise
        self._save(key, marker, jira_markers.done(self.marks(key), marker, ref=ref, fp=fp))
        return ref

    def _save(self, key: str, marker: str, notes: dict[str, NoteMark]) -> None:
        self.adapter.set_property(key, PROPERTY_KEY, self.value(key, marker, notes))
        self.cache.put(key, notes)

    def edit(self, key: str, ref: str, *, body: str, marker: str, fp: str) -> None:
        """Edit in place and record the new fingerprint in one issue edit (where Jira refuses
        it, the comment and then the property: a crash between only edits again). A note whose
        comment id was never recorded (`ref` "") is first found by its marker."""
        if not ref:
            found = self.find_comment(key, marker)
            if found is None:
                raise PermanentError(
                    f"{self.adapter.name}: {key}: no comment carries the marker {marker!r}"
                )
            ref = found
        notes = jira_markers.done(self.marks(key), marker, ref=ref, fp=fp)
        try:
            self.adapter.edit_marked_comment(
                key, ref, body=body, markers=self.value(key, marker, notes)
            )
        except NotFoundError:
            raise
        except PermanentError:  # the edit refused (a read-only status): comment, then marker
            self.adapter.edit_comment(key, ref, body=body)
            self._save(key, marker, notes)
            return
        self.cache.put(key, notes)

    def unsaved(self, key: str) -> dict[str, Any] | None:
        """The property value to carry with another write on `key`, when the cache holds
        comment ids its property lacks; None otherwise."""
        seen = self.cache.state(key)
        if seen is None or not seen.unsaved or seen.notes is None:
            return None
        try:
            return jira_markers.value(seen.notes, keep="")
        except ValueError:
            return None

    def saved(self, key: str) -> None:
        """The property value `unsaved` gave went to Jira with a write."""
        notes = self.cache.get(key)
        if notes is not None:
            self.cache.put(key, notes)

    def value(self, key: str, marker: str, notes: dict[str, NoteMark]) -> dict[str, Any]:
        """The property value for `notes`, held under Jira's size limit (else refused here,
        before anything is written)."""
        try:
            return jira_markers.value(notes, keep=marker)
        except ValueError as exc:
            raise PermanentError(f"{self.adapter.name}: {key}: {exc}") from None

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

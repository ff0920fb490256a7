"""Jira notes with their markers: pending, the comment, done; markers set in bulk on Cloud.

Every search page and re-read brings each issue's `change-connector` property along (see
`jira_markers`); `MarkerCache` (`jira_seen`) keeps the notes of the issues read lately, so
checking a note's marker before writing costs no call. An issue not read lately (an action left
pending by an earlier cycle) costs one property GET.

A new note is posted on the comment resource (`POST /issue/{key}/comment`, the one place Jira
documents a comment's properties: the note's own marker and JSM's internal flag), between its
issue marker `pending` and `done`: a crash after the POST leaves `pending`, which tells the
next attempt to look among the comments before posting. One note at a time that is three
requests. On Cloud the executor hands over a page's planned notes first (`arm`): the `pending`
markers of the notes whose marker is absent are set for all their issues at once (`POST
/issue/properties/multi`, see `jira_bulk`), each confirmed by the task's result before that
issue's comment may go out, and the `done` markers (with the comment ids) after the page in
the same way (`settle`), unless a later write on the issue (a label, a transition, an edit)
carried them first. A note is one request then; an issue the bulk write did not confirm, and
every note on Data Center (which has no bulk write), takes the three.

The comments themselves are read only for a `pending` marker (left by a crash between the
requests) and to find the id of a note to edit whose id was never recorded: their ids from `GET
/issue/{key}/comment`, then their properties through what each deployment documents (Cloud:
`POST /comment/list?expand=properties`, up to 1000 ids a call; Data Center: `GET
/comment/{id}/properties/change-connector`, newest comment first). A note edited in place is
one issue edit (`update.comment[].edit` and the property with its new fingerprint); where Jira
refuses it (a status whose workflow makes the issue read-only), the comment, then the property.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jira import JIRAError
from loguru import logger

from connector.core.errors import ConnectorError, NotFoundError, PermanentError
from connector.core.model import SystemKind
from connector.core.paging import OffsetPaginator
from connector.systems import jira_markers
from connector.systems.jira_markers import PROPERTY_KEY, NoteMark
from connector.systems.jira_seen import MarkerCache
from connector.systems.paths import segment

if TYPE_CHECKING:
    from connector.systems.jira import JiraAdapter

COMMENT_PAGE = 100
# A bulk write costs a request and at least one task read, before and again after: from this
# many issues on it costs fewer calls than one marker write an issue before and after.
BULK_FROM = 3
COMMENT_LIST_IDS = 1000  # the documented maximum of `POST /comment/list`

__all__ = ["JiraNotes", "MarkerCache"]


class JiraNotes:
    """Marked notes on one Jira site, through its adapter's session and retry policy."""

    def __init__(self, adapter: JiraAdapter) -> None:
        self.adapter = adapter
        self.cache = MarkerCache()
        # (issue id, marker) of the notes `arm` set pending, not posted yet; per issue, the
        # markers `settle` is to write: done, or withdrawn (None). Shared by the writing threads.
        self._armed: set[tuple[str, str]] = set()
        self._due: dict[str, dict[str, NoteMark | None]] = {}
        self._lock = threading.Lock()

    def marks(self, key: str) -> dict[str, NoteMark]:
        cached = self.cache.get(key)
        if cached is None:
            cached = jira_markers.parse(self.adapter.get_property(key, PROPERTY_KEY))
            self.cache.put(key, cached)
        return cached

    def find(self, key: str, marker: str) -> NoteMark | None:
        """The note `marker` names, if it is on the issue; a pending one is looked for among the
        comments (and marked done when found there)."""
        if self._armed_for(key, marker):  # its marker was absent when armed: not posted yet
            return None
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
        """Post the comment between its markers; its id. A note `arm` marked pending is one
        request (its `done` marker waits for `settle`), any other three."""
        if self._take(key, marker):
            return self._post_armed(key, body=body, marker=marker, fp=fp, internal=internal)
        return self._post_apart(
            key, self.marks(key), body=body, marker=marker, fp=fp, internal=internal
        )

    # -- markers in bulk (Cloud) ---------------------------------------------------------------

    def arm(self, planned: Iterable[tuple[str, str, str]]) -> None:
        """Before a page's writes: set `pending` for each planned note (issue, marker,
        fingerprint) whose marker its issue, as last read, lacks, in bulk when that is on
        `BULK_FROM` issues or more; the notes whose issue Jira confirmed are posted with one
        request each, the others with their own marker writes."""
        if self.adapter.kind is not SystemKind.JIRA_CLOUD:
            return
        wanted: dict[str, dict[str, NoteMark]] = {}
        new: dict[str, list[str]] = {}
        for ticket, marker, fp in planned:
            issue, notes = self._issue_id(ticket), self.cache.get(ticket)
            if issue is None or notes is None:  # not read lately: checked one by one
                continue
            notes = wanted.get(issue, notes)
            if marker in notes:  # posted (found or edited) or pending (look for it first)
                continue
            wanted[issue] = jira_markers.pending(notes, marker, fp=fp)
            new.setdefault(issue, []).append(marker)
        values = {i: v for i, n in wanted.items() if (v := _value_or_none(n)) is not None}
        if len(values) < BULK_FROM:
            return
        confirmed = self.adapter.set_properties_bulk(
            {i: {PROPERTY_KEY: v} for i, v in values.items()}
        )
        with self._lock:
            for issue in confirmed:
                self.cache.put(issue, wanted[issue])
                self._armed.update((issue, m) for m in new[issue])

    def settle(self, planned: Iterable[tuple[str, str, str]]) -> None:
        """After a page's writes (`planned`: its notes, as `arm` had them): set `done` (with the
        comment id), or withdraw the marker of a note Jira refused, on every issue whose armed
        notes went out, in bulk; an issue the bulk write did not confirm is written alone. The
        page's armed notes not posted (another worker holds them, the round stopped) keep
        `pending`: their next attempt looks for the comment."""
        ended = {(self._issue_id(ticket) or ticket, marker) for ticket, marker, _ in planned}
        with self._lock:
            due, self._due = self._due, {}
            self._armed -= ended
        wanted: dict[str, dict[str, NoteMark]] = {}
        for issue, outcome in due.items():
            seen = self.cache.state(issue)
            notes = dict(seen.notes or {}) if seen is not None else {}
            if seen is not None and not seen.unsaved and _holds(notes, outcome):
                continue  # a later write on the issue carried them
            for marker, mark in outcome.items():
                if mark is None:
                    notes.pop(marker, None)
                else:
                    notes[marker] = mark
            wanted[issue] = notes
        values = {i: v for i, n in wanted.items() if (v := _value_or_none(n)) is not None}
        if not values:
            return
        confirmed = self.adapter.set_properties_bulk(
            {i: {PROPERTY_KEY: v} for i, v in values.items()}
        )
        for issue, value in values.items():
            if issue not in confirmed:
                try:
                    self.adapter.set_property(issue, PROPERTY_KEY, value)
                except ConnectorError as exc:  # left pending: the next check finds the comment
                    logger.warning(
                        "{}: {}: markers left pending: {}", self.adapter.name, issue, exc
                    )
                    continue
            self.cache.put(issue, wanted[issue])

    def _issue_id(self, name: str) -> str | None:
        return name if name.isdigit() else self.cache.id_of(name)

    def _armed_for(self, key: str, marker: str) -> bool:
        issue = self._issue_id(key)
        with self._lock:
            return issue is not None and (issue, marker) in self._armed

    def _take(self, key: str, marker: str) -> bool:
        issue = self._issue_id(key)
        with self._lock:
            if issue is None or (issue, marker) not in self._armed:
                return False
            self._armed.discard((issue, marker))
            return True

    def _post_armed(self, key: str, *, body: str, marker: str, fp: str, internal: bool) -> str:
        """The comment of a note whose `pending` marker is confirmed written; its `done`
        marker is kept for `settle` (and carried by any later write on the issue first)."""
        issue = self._issue_id(key) or key
        try:
            ref = self.adapter.post_comment(key, body=body, marker=marker, internal=internal)
        except NotFoundError:  # the issue is gone (or hidden): nothing to settle on it
            raise
        except PermanentError:  # refused for good: no comment, so no marker to look for later
            self._settled(issue, marker, None)
            raise
        self._settled(issue, marker, NoteMark(ref=ref, fp=fp, state="done"))
        return ref

    def _settled(self, issue: str, marker: str, mark: NoteMark | None) -> None:
        notes = {m: n for m, n in self.marks(issue).items() if m != marker}
        if mark is not None:
            notes[marker] = mark
        with self._lock:
            self._due.setdefault(issue, {})[marker] = mark
        self.cache.put(issue, notes, unsaved=True)

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


def _value_or_none(notes: Mapping[str, NoteMark]) -> dict[str, Any] | None:
    """The property value for `notes`, or None where it cannot be held under Jira's limit (the
    issue's notes are then written one by one, which refuses them before any write)."""
    try:
        return jira_markers.value(notes, keep="")
    except ValueError:
        return None


def _holds(notes: Mapping[str, NoteMark], outcome: Mapping[str, NoteMark | None]) -> bool:
    return all(notes.get(m) == mark for m, mark in outcome.items())

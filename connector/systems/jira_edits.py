"""Jira issue edits other than transitions: comments carrying their marker, issue properties and
labels, each skipped or checked so that it is never made twice.

A mixin of `JiraAdapter`, which gives the session (`_rest`), the retry policy (`_call`) and the
markers of the issues read in this cycle (`notes`). A comment and the issue's marker property
are written by one edit where the note allows it, so they land together; after an answer that
was lost, the property (or the comment's own marker) says whether the note was posted. A label
edit on an issue whose cached markers hold comment ids its property lacks carries the property
along.
"""

from __future__ import annotations

from typing import Any

from jira import JIRAError

from connector.core.model import SystemKind
from connector.systems import jira_markers
from connector.systems.jira_markers import PROPERTY_KEY
from connector.systems.jira_part import JiraPart
from connector.systems.paths import segment

INTERNAL_PROPERTY = "sd.public.comment"  # JSM: {"internal": true} hides a comment from customers


class JiraEdits(JiraPart):
    """Comments, properties and labels of one Jira site's issues."""

    kind: SystemKind

    # -- comments ----------------------------------------------------------------------------

    def post_comment(self, key: str, *, body: str, marker: str, internal: bool = False) -> str:
        """Add a comment carrying `marker` (a comment property); its id. Never posts twice."""
        payload = {"body": body, "properties": self._comment_properties(marker, internal)}
        return self._call(
            lambda: str(self._rest("POST", f"issue/{segment(key)}/comment", body=payload)["id"]),
            f"comment on {key}",
            idempotent=False,
            already_done=lambda: self.notes.find_comment(key, marker),
        )

    def post_marked_comment(
        self, key: str, *, body: str, marker: str, internal: bool, markers: dict[str, Any]
    ) -> str | None:
        """Add a comment carrying `marker` and set the issue's marker property to `markers`
        (which names the note) in one edit; the comment's id when Jira answers with the issue
        (Cloud's `returnIssue`), else None. Never posts twice: after an answer that was lost,
        the property is read and the note found there counts as posted."""
        comment = {"body": body, "properties": self._comment_properties(marker, internal)}
        payload = {
            "update": {"comment": [{"add": comment}]},
            "properties": [{"key": PROPERTY_KEY, "value": markers}],
        }
        cloud = self.kind is SystemKind.JIRA_CLOUD
        params = {"returnIssue": "true"} if cloud else None

        def once() -> str:
            raw = self._rest("PUT", f"issue/{segment(key)}", params=params, body=payload)
            return _new_comment_id(raw, body=body) or ""

        def landed() -> str | None:
            mark = jira_markers.parse(self.get_property(key, PROPERTY_KEY)).get(marker)
            return None if mark is None or mark.pending else (mark.ref or "")

        ref = self._call(once, f"comment on {key}", idempotent=False, already_done=landed)
        return ref or None

    def edit_marked_comment(
        self, key: str, comment_id: str, *, body: str, markers: dict[str, Any]
    ) -> None:
        """Replace a comment's body and set the issue's marker property to `markers` (the
        note's new fingerprint) in one edit (`update.comment[].edit`); the comment's own marker
        property stays. Repeating it writes the same again."""
        payload = {
            "update": {"comment": [{"edit": {"id": comment_id, "body": body}}]},
            "properties": [{"key": PROPERTY_KEY, "value": markers}],
        }
        self._call(
            lambda: self._rest("PUT", f"issue/{segment(key)}", body=payload),
            f"edit comment {comment_id} on {key}",
        )

    def _comment_properties(self, marker: str, internal: bool) -> list[dict[str, Any]]:
        properties: list[dict[str, Any]] = [{"key": PROPERTY_KEY, "value": {"marker": marker}}]
        if internal:
            properties.append({"key": INTERNAL_PROPERTY, "value": {"internal": True}})
        return properties

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of the comment on `key` that carries `marker`, if any (reads its comments)."""
        return self.notes.find_comment(key, marker)

    def edit_comment(self, key: str, comment_id: str, *, body: str) -> None:
        """Replace a comment's body (the marker property stays)."""
        self._call(
            lambda: self._rest(
                "PUT", f"issue/{segment(key)}/comment/{segment(comment_id)}", body={"body": body}
            ),
            f"edit comment {comment_id} on {key}",
        )

    # -- properties and labels ---------------------------------------------------------------

    def set_property(self, key: str, prop: str, value: Any) -> None:
        """Set an issue property (JSON up to 32 KB, invisible to users)."""
        self._call(
            lambda: self._rest(
                "PUT", f"issue/{segment(key)}/properties/{segment(prop)}", body=value
            ),
            f"set property {prop} on {key}",
        )

    def get_property(self, key: str, prop: str) -> Any | None:
        """An issue property's value, or None when it is not set."""
        raw = self._call(lambda: self._get_property_once(key, prop), f"read {prop} of {key}")
        return raw.get("value") if raw else None

    def _get_property_once(self, key: str, prop: str) -> dict[str, Any] | None:
        try:
            raw: dict[str, Any] = self._rest(
                "GET", f"issue/{segment(key)}/properties/{segment(prop)}"
            )
        except JIRAError as exc:
            if exc.status_code == 404:
                return None
            raise
        return raw

    def labels(self, key: str) -> list[str]:
        """The issue's labels as last read (a read page, or this worker's own edit); read now
        when they are not known."""
        seen = self.notes.cache.state(key)
        if seen is not None and seen.labels is not None:
            return list(seen.labels)
        raw = self._call(
            lambda: self._rest("GET", f"issue/{segment(key)}", params={"fields": "labels"}),
            f"read {key}",
        )
        return list(raw["fields"].get("labels") or [])

    def set_label(self, key: str, label: str, *, present: bool) -> bool:
        """Add or remove `label`; False (no write) when the issue already is as asked."""
        if (label in self.labels(key)) == present:
            return False
        self._edit_labels(key, "add" if present else "remove", label)
        return True

    def add_label(self, key: str, label: str) -> None:
        self._edit_labels(key, "add", label)

    def remove_label(self, key: str, label: str) -> None:
        self._edit_labels(key, "remove", label)

    def _edit_labels(self, key: str, op: str, label: str) -> None:
        body: dict[str, Any] = {"update": {"labels": [{op: label}]}}
        markers = self.notes.unsaved(key)
        if markers is not None:
            body["properties"] = [{"key": PROPERTY_KEY, "value": markers}]
        self._call(
            lambda: self._rest("PUT", f"issue/{segment(key)}", body=body), f"{op} label on {key}"
        )
        if markers is not None:
            self.notes.saved(key)
        seen = self.notes.cache.state(key)
        if seen is not None and seen.labels is not None:
            labels = [x for x in seen.labels if x != label]
            self.notes.cache.labelled(key, (*labels, label) if op == "add" else tuple(labels))


def _new_comment_id(issue: Any, *, body: str) -> str | None:
    """The id of the newest comment saying `body` in an issue returned by an edit."""
    fields = issue.get("fields") if isinstance(issue, dict) else None
    comments = ((fields or {}).get("comment") or {}).get("comments") or []
    ids = [
        str(c["id"])
        for c in comments
        if isinstance(c, dict) and str(c.get("id", "")).isdigit() and _same(c.get("body"), body)
    ]
    return max(ids, key=int) if ids else None


def _same(text: Any, body: str) -> bool:
    """Bodies compare without trailing blanks (Jira may trim them)."""

    def lines(value: str) -> list[str]:
        return [line.rstrip() for line in value.strip().splitlines()]

    return isinstance(text, str) and lines(text) == lines(body)

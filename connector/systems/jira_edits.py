"""Jira issue edits other than transitions: comments carrying their marker, issue properties and
labels, each skipped or checked so that it is never made twice.

A mixin of `JiraAdapter`, which gives the session (`_rest`, `_submit`), the retry policy
(`_call`) and the markers of the issues read in this cycle (`notes`). A comment is posted on the
comment resource with its own marker property (the one place Jira documents a comment's
properties, JSM's internal flag among them), so after an answer that was lost the comments say
whether it landed. A note edited in place is one issue edit carrying the issue's marker
property. Issue properties are set one issue at a time or, on Cloud, up to 100 issues a request
(`set_properties_bulk`, see `jira_bulk`). A label edit on an issue whose cached markers hold
comment ids its property lacks carries the property along.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from jira import JIRAError
from loguru import logger

from connector.core.errors import ConnectorError
from connector.core.model import SystemKind
from connector.systems import jira_bulk
from connector.systems.jira_markers import PROPERTY_KEY
from connector.systems.jira_part import JiraPart
from connector.systems.paths import segment

INTERNAL_PROPERTY = "sd.public.comment"  # JSM: {"internal": true} hides a comment from customers
TASK_FIRST_PAUSE = 0.1  # seconds before the second poll of a task; doubled each poll
TASK_MAX_PAUSE = 2.0
TASK_WAIT_SECONDS = 60.0  # a bulk write's task not ended by then confirms nothing


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

    def set_properties_bulk(self, values: jira_bulk.Values) -> set[str]:
        """Set each issue's properties (`values`: issue id -> key -> value) with Cloud's bulk
        write, 100 issues a request, each request's task followed to its end; the ids of the
        issues its result reports as set (see `jira_bulk`). A request that fails, or whose
        task does not end within `TASK_WAIT_SECONDS`, confirms none of its issues: the
        caller writes those one by one."""
        done: set[str] = set()
        for asked, body in jira_bulk.bodies(values):
            try:
                location = self._call(
                    partial(self._submit, "issue/properties/multi", body),
                    f"set properties of {len(asked)} issues",
                )
                task = self._follow(jira_bulk.task_path(location))
            except (ConnectorError, ValueError) as exc:
                logger.warning("{}: bulk property write not confirmed: {}", self.name, exc)
                continue
            done |= jira_bulk.confirmed(task, asked)
        return done

    def _follow(self, path: str) -> Any:
        """The task at `path` once it has ended (polled with a growing pause), or as last
        seen when it has not ended within `TASK_WAIT_SECONDS`."""
        waited, pause = 0.0, TASK_FIRST_PAUSE
        while True:
            task = self._call(lambda: self._rest("GET", path), "read the bulk write's task")
            if jira_bulk.finished(task) or waited >= TASK_WAIT_SECONDS:
                return task
            self.policy.sleep(pause)
            waited, pause = waited + pause, min(pause * 2, TASK_MAX_PAUSE)

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

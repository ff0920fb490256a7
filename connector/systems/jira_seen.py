"""What the worker last read of each Jira issue, kept for the checks before its writes.

Every search page and re-read brings, per issue, its `change-connector` property (the note markers,
see `jira_markers`), its status, labels and (outside observe mode) the transitions it offers.
`MarkerCache` keeps them for the issues read lately (a search in observe mode keeps nothing: no
write follows), so checking a write before making it costs no call: a note against its marker, a
transition against the status and the offered transitions, a label against the labels. The worker's
own writes update the entry (a transition leaves the status known and the transitions unknown: the
next step takes them from another issue of the same project and type read in that status, as Jira's
workflows are per project and type; a step refused there, a condition hiding it on this issue, is
read and tried once more). An issue not read lately costs one read, as does a piece a read did not
carry.

Comment ids learned from a write's answer are kept beside the markers; they are `unsaved`
until a write carries the property to Jira again (the page's bulk `done` markers, or an earlier
write on the issue: a label, a transition, an edit).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from connector.systems import jira_markers
from connector.systems.jira_markers import PROPERTY_KEY, NoteMark

# Enough for the batches of writes in flight at once (a few ledger pages of at most 500 tickets
# each: `executor.LEDGER_PAGE`); more only holds memory, as writes follow the scan and a batch's
# tickets not kept are read again in bulk (`JiraAdapter.recall`).
CACHE_ISSUES = 2_500
# The fields `_read` takes from a read issue: a search that names its fields asks for these too.
SEEN_FIELDS = ("issuetype", "labels", "project", "status")
_WORKFLOWS = 1_000  # (project, type, status) places whose transitions are kept


class Offered(NamedTuple):
    """A transition an issue offers: what the write needs of it, not the whole object."""

    id: str
    name: str
    to: str


def _offered(raw: Any) -> tuple[Offered, ...] | None:
    if not isinstance(raw, list):
        return None
    return tuple(
        Offered(str(t["id"]), str(t["name"]), str((t.get("to") or {}).get("name", "")))
        for t in raw
        if isinstance(t, dict) and "id" in t and "name" in t
    )


@dataclass(frozen=True)
class Seen:
    """One issue as last read (None: that read did not carry it) plus this worker's writes."""

    key: str
    notes: dict[str, NoteMark] | None = None
    status: str | None = None
    labels: tuple[str, ...] | None = None
    transitions: tuple[Offered, ...] | None = None
    unsaved: bool = False  # `notes` hold comment ids the issue's property does not
    workflow: tuple[str, str] | None = None  # (project key, issue type): whose workflow

    def learned(self) -> tuple[str, str, str] | None:
        """Where what the issue offers may be learned from other issues: the workflow of its
        project and type, in its status."""
        if self.workflow is None or self.status is None:
            return None
        return (*self.workflow, self.status)


def _read(issue: dict[str, Any], known: Seen | None) -> Seen:
    """The state an issue was read with; what the read did not carry stays as known."""
    raw_fields = issue.get("fields")
    fields: dict[str, Any] = raw_fields if isinstance(raw_fields, dict) else {}
    properties = issue.get("properties")
    old = known or Seen(key="")
    notes = old.notes
    unsaved = old.unsaved
    if isinstance(properties, dict):
        notes = jira_markers.parse(properties.get(PROPERTY_KEY))
        if old.notes and old.unsaved:
            notes = jira_markers.with_refs(notes, old.notes)
            unsaved = notes != jira_markers.parse(properties.get(PROPERTY_KEY))
        else:
            unsaved = False
    status = (fields.get("status") or {}).get("name") if "status" in fields else old.status
    labels = tuple(fields.get("labels") or ()) if "labels" in fields else old.labels
    offered = _offered(issue.get("transitions"))
    transitions = offered if offered is not None else old.transitions
    if "status" in fields and status != old.status and offered is None:
        transitions = None  # moved since: what it offered then no longer holds
    project, kind = (fields.get("project") or {}).get("key"), (fields.get("issuetype") or {})
    workflow = (str(project), str(kind.get("name"))) if project and kind.get("name") else None
    return Seen(
        key=str(issue.get("key") or old.key),
        notes=notes,
        status=None if status is None else str(status),
        labels=labels,
        transitions=transitions,
        unsaved=unsaved,
        workflow=workflow or old.workflow,
    )


class MarkerCache:
    """The state of the issues read lately, newest read last; bounded, refreshed by each read.

    Held by issue id; an issue's key names the same entry (a write may name either)."""

    def __init__(self, size: int = CACHE_ISSUES) -> None:
        self.size = size
        self._seen: OrderedDict[str, Seen] = OrderedDict()
        self._ids: dict[str, str] = {}  # issue key -> issue id
        # (project, issue type, status) -> the transitions an issue there offered when read
        self._workflows: dict[tuple[str, str, str], tuple[Offered, ...]] = {}
        # The page reader and the writer threads (write_concurrency) share the cache.
        self._lock = threading.RLock()

    def seen(self, issue: dict[str, Any]) -> None:
        """Keep what an issue was read with (its markers when `properties` were asked)."""
        with self._lock:
            self._seen_locked(issue)

    def _seen_locked(self, issue: dict[str, Any]) -> None:
        key, issue_id = str(issue.get("key") or ""), str(issue.get("id") or "")
        if not (key or issue_id):
            return
        if key and issue_id:
            self._ids[key] = issue_id
        at = issue_id or key
        seen = _read(issue, self._seen.get(at))
        where, offered = seen.learned(), seen.transitions
        if where is not None and isinstance(issue.get("transitions"), list) and offered:
            shared = self._workflows.get(where)
            if shared == offered:  # one copy per workflow and status, not one per issue
                seen = replace(seen, transitions=shared)
            else:
                if len(self._workflows) >= _WORKFLOWS and where not in self._workflows:
                    self._workflows.clear()
                self._workflows[where] = offered
        self._put(at, seen)

    def offered_there(self, name: str) -> tuple[Offered, ...] | None:
        """What other issues of the issue's workflow offered in its current status, when it
        is not known of the issue itself (this worker just moved it there)."""
        seen = self.state(name)
        where = None if seen is None else seen.learned()
        return None if where is None else self._workflows.get(where)

    def state(self, name: str) -> Seen | None:
        """What is known of the issue `name` (its id or key), if it was read lately."""
        return self._seen.get(self._ids.get(name, name))

    def missing(self, names: Iterable[str]) -> list[str]:
        """Of the issues `names` (ids or keys), those not known; the known ones become the
        newest, so reading the others in does not push them out."""
        with self._lock:
            out = []
            for name in names:
                at = self._ids.get(name, name)
                if at in self._seen:
                    self._seen.move_to_end(at)
                else:
                    out.append(name)
            return out

    def id_of(self, key: str) -> str | None:
        return self._ids.get(key)

    def get(self, name: str) -> dict[str, NoteMark] | None:
        found = self.state(name)
        return None if found is None else found.notes

    def put(self, name: str, notes: dict[str, NoteMark], *, unsaved: bool = False) -> None:
        """Record the notes this worker wrote on the issue `name` (its id or key); `unsaved`:
        they hold comment ids the property written does not."""
        self._update(name, notes=notes, unsaved=unsaved)

    def forget(self, name: str) -> None:
        """Drop what is known of the issue `name` (its id or key): its next check reads it."""
        with self._lock:
            self._seen.pop(self._ids.get(name, name), None)

    def moved(self, name: str, status: str) -> None:
        """This worker moved the issue to `status`: what it offers there is not known yet."""
        self._update(name, status=status, transitions=None)

    def labelled(self, name: str, labels: tuple[str, ...]) -> None:
        self._update(name, labels=labels)

    def _update(self, name: str, **changes: Any) -> None:
        with self._lock:
            at = self._ids.get(name, name)
            self._put(at, replace(self._seen.get(at) or Seen(key=""), **changes))

    def _put(self, at: str, seen: Seen) -> None:
        with self._lock:
            self._seen[at] = seen
            self._seen.move_to_end(at)
            while len(self._seen) > self.size:
                _, old = self._seen.popitem(last=False)
                self._ids.pop(old.key, None)

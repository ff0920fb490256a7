"""Ticket writers: the executor's view of a ticket system (notes, workflow moves, labels).

Each writer adapts one adapter to the executor's `TicketWriter` protocol and turns the mapping's
worker actions (`[actions.<name>]`: a Jira transition by name, a ServiceNow state and columns)
into calls. Every write checks the ticket first and reports whether it wrote: a transition to
the status the issue is already in, a label already there, columns already set, are no writes.
Each check uses what the ticket's page carried (no call): a Jira note against the markers its
issue was read with (a page's notes are handed over before and after its writes, so Jira Cloud
sets their markers in bulk), a transition against its status and offered transitions, a label
against its labels; a ServiceNow note against the journal fields of its row, a move against its
columns. The adapters keep this of the last 2,500 tickets read: before a page's writes, the
writer reads its tickets read longer ago again, in bulk (`recall`).

A ticket deleted since it was planned for is `TicketDeleted`, never a failure: the ServiceNow
adapter says so itself; a Jira write answered 404 is confirmed by re-reading the issue (a 404
there too: it is gone), as the webhook drain confirms a delete event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from connector.core.errors import NotFoundError, PermanentError
from connector.core.mapping import ActionSpec, Mapping
from connector.core.mapping.vocabulary import ACTION_TO
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter

T = TypeVar("T")


class Note(NamedTuple):
    """A note found on a ticket: its reference and, as far as the system tells without another
    call, what it says (the fingerprint of the content it was written with, or its text)."""

    ref: str
    body: str = ""
    fingerprint: str | None = None


class PlannedNote(NamedTuple):
    """A note a page of actions is about to write: on which ticket, under which marker, with
    which content fingerprint (the executor hands a page's notes over before and after)."""

    ticket: str
    marker: str
    fingerprint: str


class JiraWriter:
    """Notes are comments, edited in place; their markers live in the issue property
    `change-connector` (see connector/systems/jira_notes.py)."""

    edits_in_place = True

    def __init__(self, adapter: JiraAdapter, mapping: Mapping) -> None:
        self.adapter = adapter
        self.mapping = mapping

    def _confirmed(self, ticket: str, call: Callable[[], T]) -> T:
        """`call()`; a 404 from it is re-checked with a read of the issue itself, which raises
        `TicketDeleted` when the issue is gone (else the 404 stands: a comment, a property)."""
        try:
            return call()
        except NotFoundError:
            self.adapter.fetch(ticket)
            raise

    def recall(self, tickets: Sequence[str]) -> None:
        """Before a page's writes: what their checks need of issues read long ago, in bulk."""
        self.adapter.recall(tickets)

    def before_notes(self, notes: Sequence[PlannedNote]) -> None:
        """Cloud: the `pending` markers of the notes not on their issues yet, set in bulk."""
        self.adapter.notes.arm(notes)

    def after_notes(self, notes: Sequence[PlannedNote]) -> None:
        """Cloud: the `done` markers of the notes posted since `before_notes`, set in bulk."""
        self.adapter.notes.settle(notes)

    def find_note(self, ticket: str, *, marker: str) -> Note | None:
        found = self._confirmed(ticket, lambda: self.adapter.notes.find(ticket, marker))
        if found is None or found.pending:
            return None
        # A ref "" is a note whose comment id was never recorded: found by its marker if it
        # is to be edited.
        return Note(found.ref or "", fingerprint=found.fp)

    def post_note(
        self, ticket: str, *, body: str, marker: str, fingerprint: str, internal: bool = True
    ) -> str:
        return self._confirmed(
            ticket,
            lambda: self.adapter.notes.post(
                ticket, body=body, marker=marker, fp=fingerprint, internal=internal
            ),
        )

    def edit_note(self, ticket: str, ref: str, *, body: str, marker: str, fingerprint: str) -> None:
        self._confirmed(
            ticket,
            lambda: self.adapter.notes.edit(ticket, ref, body=body, marker=marker, fp=fingerprint),
        )

    def move(self, ticket: str, steps: Sequence[str], *, reason: str = "") -> bool:
        """The reason is in the change-control comment; Jira transitions take no notes."""
        return self._confirmed(ticket, lambda: self._move(ticket, steps))

    def _move(self, ticket: str, steps: Sequence[str]) -> bool:
        wrote = False
        for step in remaining(steps, self.adapter.status(ticket), self._target):
            spec = _spec(self.mapping, step, self.adapter.name)
            wrote |= self.adapter.transition(
                ticket,
                name=spec.transition,
                fields=dict(spec.fields),
                target_status=self._target(step),
            )
        return wrote

    def _target(self, step: str) -> str | None:
        """The Jira status a worker action leads to, read backwards off the status map."""
        status = ACTION_TO.get(step)  # where the step takes a change: is it done already?
        names = (
            [k for k, v in self.mapping.status.map.items() if v == status]
            if (self.mapping.status and status)
            else []
        )
        return names[0] if len(names) == 1 else None

    def set_label(self, ticket: str, label: str, *, present: bool) -> bool:
        return self._confirmed(
            ticket, lambda: self.adapter.set_label(ticket, label, present=present)
        )

    def forget(self, ticket: str) -> None:
        self.adapter.notes.cache.forget(ticket)


class ServiceNowWriter:
    """Work notes end with a `[cc:<marker>]` tag; the journal is append-only, so a note that
    changes is a new work note (its marker carries the content fingerprint)."""

    edits_in_place = False

    def __init__(self, adapter: ServiceNowAdapter, mapping: Mapping) -> None:
        self.adapter = adapter
        self.mapping = mapping
        # The columns the actions set come with every page: a move is checked against them.
        adapter.watch({"state", *(c for spec in mapping.actions.values() for c in spec.fields)})

    def recall(self, tickets: Sequence[str]) -> None:
        """Before a page's writes: what their checks need of changes read long ago, in bulk."""
        self.adapter.recall(tickets)

    def before_notes(self, notes: Sequence[PlannedNote]) -> None:
        """Nothing to prepare: the tag goes inside the work note itself."""

    def after_notes(self, notes: Sequence[PlannedNote]) -> None:
        """Nothing to settle."""

    def find_note(self, ticket: str, *, marker: str) -> Note | None:
        ref = self.adapter.find_work_note(ticket, marker)
        return None if ref is None else Note(ref, "")

    def post_note(
        self, ticket: str, *, body: str, marker: str, fingerprint: str = "", internal: bool = True
    ) -> str:
        """Internal: a work note; else a customer-visible comment (the marker names the
        content: the fingerprint is not kept apart)."""
        return self.adapter.add_work_note(
            ticket, text=body, marker=marker, customer_visible=not internal
        )

    def edit_note(
        self, ticket: str, ref: str, *, body: str, marker: str = "", fingerprint: str = ""
    ) -> None:
        raise PermanentError(f"{self.adapter.name}: journal entries cannot be edited")

    def move(self, ticket: str, steps: Sequence[str], *, reason: str = "") -> bool:
        """A reason replaces the mapping's fixed `close_notes`, so the record says why."""
        state = self.adapter.known_columns(ticket).get("state", "")
        wrote = False
        # The step whose state the record is in already is applied again: its other columns
        # (an approval on a change that is in Authorize already) are checked one by one.
        for step in remaining(steps, state, self._target, inclusive=True):
            spec = _spec(self.mapping, step, self.adapter.name)
            values: dict[str, Any] = dict(spec.fields)
            if reason and "close_notes" in values:
                values["close_notes"] = reason
            if spec.state:
                values["state"] = spec.state
            wrote |= self.adapter.update_fields(ticket, values)
        return wrote

    def _target(self, step: str) -> str | None:
        spec = self.mapping.action(step)
        return spec.state if spec and spec.state else None

    def set_label(self, ticket: str, label: str, *, present: bool) -> bool:
        raise PermanentError(f"{self.adapter.name}: ServiceNow changes have no labels")

    def forget(self, ticket: str) -> None:
        self.adapter.forget(ticket)


TicketWriters = JiraWriter | ServiceNowWriter


def remaining(
    steps: Sequence[str],
    current: str,
    target: Callable[[str], str | None],
    *,
    inclusive: bool = False,
) -> Sequence[str]:
    """The steps still to do: those after the last one whose target is the current state
    (after a crash between two steps, the first is not tried again from the second's state).
    `inclusive`: that last step too, for systems whose step sets more than the state."""
    for i in range(len(steps) - 1, -1, -1):
        reached = target(steps[i])
        if reached is not None and reached.casefold() == current.casefold():
            return steps[i if inclusive else i + 1 :]
    return steps


def _spec(mapping: Mapping, step: str, source: str) -> ActionSpec:
    spec = mapping.action(step)
    if spec is None:
        raise PermanentError(f"{source}: the mapping has no action {step!r}")
    return spec

"""Change communications on the ticket (pure): which release notes a change gets, and when.

Once a change reaches one of the configured statuses (approved by default, and every status
after it), it gets its note on its own ticket: an internal one for engineering (a Jira internal
comment, a ServiceNow work note) and, for a customer-facing change, a public one for its other
audiences (a public comment, a ServiceNow customer-visible comment). Internal content never
reaches the public note: they are rendered for different audiences. Each is one note per ticket
and visibility, edited in place when the change changes (a new journal entry on ServiceNow),
planned through the same ledger and markers as every other write.

Notice tracking: for a customer-facing change, each audience must have been told a number of
days before the planned start; whether the public note went out by then is read off the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from connector.core.model import Audience, Change, Status
from connector.core.notes.guidance import Route, route
from connector.core.notes.render import is_internal, render_change
from connector.core.planner import Action, NoteVersion, note, revised_note

INTERNAL = "release-note:internal"
PUBLIC = "release-note:public"
AFTER_APPROVAL = (
    Status.APPROVED,
    Status.SCHEDULED,
    Status.IMPLEMENTING,
    Status.REVIEW,
    Status.CLOSED,
)


class ReleaseNotesSettings(BaseModel):
    """`[release_notes]`: when change notes are posted, how they are routed and rendered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    post_on: tuple[Status, ...] = AFTER_APPROVAL
    # A directory of Jinja2 templates that replace the built-in ones file by file
    # (change.<format>.j2, release.<format>.j2).
    templates_dir: Path | None = None
    # Extra audiences by InfoSec category, security level or customer-facing.
    routes: tuple[Route, ...] = ()
    # Per source, a ticket that gets the per-release notes (else every ticket of the release).
    release_tickets: dict[str, str] = {}
    # How the release's own tickets are found (`release-notes --post`): their title, with
    # "{release}" standing for the release's name, e.g. "Release {release}" (ignoring case).
    # A source with neither this nor `release_tickets` gets a short note on each change of the
    # release that names (and, with release_note_url, links to) the full note.
    release_ticket_title: str = ""
    # Where people read the full release note, "{release}" standing for its name (https).
    release_note_url: str = ""

    @field_validator("release_ticket_title")
    @classmethod
    def _names_the_release(cls, value: str) -> str:
        if value.strip() and "{release}" not in value:
            raise ValueError('must contain "{release}" (e.g. "Release {release}")')
        return value.strip()

    @field_validator("release_note_url")
    @classmethod
    def _https(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value.replace("{release}", "x"))
        if value and (parts.scheme != "https" or not parts.hostname):
            raise ValueError(f"{value!r} is not an https URL with a host")
        return value


def audiences(change: Change, settings: ReleaseNotesSettings) -> tuple[Audience, ...]:
    return route(change, settings.routes)


def public_audience(change: Change, settings: ReleaseNotesSettings) -> Audience | None:
    """The audience the public note is written for: the broadest customer-facing one."""
    if not change.customer_facing:
        return None
    public = [a for a in audiences(change, settings) if not is_internal(a)]
    return public[0] if public else None


def note_actions(
    change: Change,
    *,
    settings: ReleaseNotesSettings,
    fmt: str,
    last: Mapping[str, NoteVersion],
    unseen: bool = False,
) -> list[Action]:
    """The release-note actions for one change; `last`: purpose -> the version last planned.

    `unseen`: the caller withholds every write of the change and shows none (a recording run
    in observe mode, or on a change before the cut-off, keeps only that a note was withheld).
    A note with nothing planned before to compare with is then planned whatever it says, so it
    is not rendered: its body and content (and the key made of them) stay empty. Rendering is
    most of a release note's cost, and a first sync in observe mode plans one a ticket."""
    if not settings.enabled or change.status not in settings.post_on:
        return []
    wanted = [(INTERNAL, Audience.ENGINEERING)]
    public = public_audience(change, settings)
    if public is not None:
        wanted.append((PUBLIC, public))
    out = []
    for purpose, audience in wanted:
        before = last.get(purpose)
        if unseen and before is None:
            action: Action | None = note(change, purpose=purpose, body="", content="", edit=True)
        else:
            body = render_change(
                change, audience=audience, fmt=fmt, templates=settings.templates_dir
            )
            action = revised_note(change, purpose=purpose, body=body, last=before)
        if action is None:
            continue
        out.append(action.model_copy(update={"internal": purpose == INTERNAL}))
    return out


@dataclass(frozen=True)
class Notice:
    audience: Audience
    deadline: datetime
    told_at: datetime | None
    now: datetime

    @property
    def status(self) -> str:
        """met | late | missed | pending"""
        if self.told_at is not None:
            return "met" if self.told_at <= self.deadline else "late"
        return "missed" if self.now > self.deadline else "pending"


def notices(
    change: Change,
    *,
    notice_days: Mapping[Audience, float],
    settings: ReleaseNotesSettings,
    told_at: datetime | None,
    now: datetime,
) -> list[Notice]:
    """Per customer-facing audience with a notice period: its deadline and whether it was met."""
    if not change.customer_facing or change.planned_start is None:
        return []
    return [
        Notice(a, change.planned_start - timedelta(days=notice_days[a]), told_at, now)
        for a in audiences(change, settings)
        if a in notice_days and not is_internal(a)
    ]

"""The short release note a change ticket gets instead of the whole release note, and the
settings that say where release notes go."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connector.core.communications import ReleaseNotesSettings
from connector.core.model import Audience
from connector.core.notes.pointer import release_pointer, release_url


def test_the_short_note_names_the_release_and_where_its_note_is() -> None:
    url = release_url("https://wiki.example.com/releases/{release}", "2026.11 [x|y]")
    assert url == "https://wiki.example.com/releases/2026.11%20%5Bx%7Cy%5D"
    linked = release_pointer("2026.11.2", audience=Audience.ALL_USERS, fmt="sn", url=url)
    assert linked.splitlines()[0] == "Release 2026.11.2: this change is part of the release."
    assert linked.endswith(f"read it at {url}")
    hostile = release_pointer("2026 [x|https://evil.example]", audience=Audience.ADMINS, fmt="wiki")
    assert "[x|" not in hostile and "https://evil" not in hostile  # no link, no markup
    assert len(release_pointer("r" * 10_000, audience=Audience.ADMINS, fmt="sn")) < 600


def test_release_settings_say_how_release_tickets_are_found() -> None:
    ok = ReleaseNotesSettings(release_ticket_title=" Release {release} ")
    assert ok.release_ticket_title == "Release {release}"
    with pytest.raises(ValidationError, match=r"must contain \"\{release\}\""):
        ReleaseNotesSettings(release_ticket_title="Release notes")
    with pytest.raises(ValidationError, match="not an https URL"):
        ReleaseNotesSettings(release_note_url="http://wiki.example.com/{release}")

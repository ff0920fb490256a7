"""The short note a change of a release gets when the release has no tickets of its own (pure).

Posting a whole release note on every ticket of a release copies it many times over (87 tickets
times 35,000 characters, each edited again whenever any change of the release changes); a change
ticket gets a few lines instead, naming the release and where its full note is read.
"""

from __future__ import annotations

from urllib.parse import quote

from connector.core.model import Audience
from connector.core.notes.escape import ESCAPERS
from connector.core.notes.guidance import AUDIENCE_LABELS
from connector.core.notes.view import safe_url

# Far below any ticket system's comment limit, whatever the release's name.
MAX_NAME = 200


def release_url(template: str, name: str) -> str:
    """The configured URL of a release's full note ("" when none, or not a safe URL)."""
    if not template:
        return ""
    return safe_url(template.replace("{release}", quote(name, safe="")))


def release_pointer(name: str, *, audience: Audience, fmt: str, url: str = "") -> str:
    """Two lines for one change ticket: the release it is in, and where the full note for
    `audience` is (the URL, else the command that prints it). Nothing in it depends on the
    release's other changes, so it is posted once and never edited again."""
    escape = ESCAPERS[fmt]
    plain = " ".join(name.split())[:MAX_NAME]
    label = AUDIENCE_LABELS[audience]
    command = f"change-connector release-notes --release {plain} --audience {audience.value}"
    where = f"read it at {url}" if url else escape(f"print it with: {command}")
    return "\n".join(
        [
            escape(f"Release {plain}: this change is part of the release."),
            escape(f"The full release note for {label} is not copied here; ") + where,
        ]
    )

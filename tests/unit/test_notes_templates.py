"""Release notes: what a note says (summary, window, security section, routing into release
notes) and how templates behave (override directory, escaping without asking, formats)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from test_notes_render import CLEANUP, HARDENING, HOSTILE, RELEASE, make_change

from connector.core.model import Audience, SecurityImpact, SecurityLevel
from connector.core.notes.guidance import Route
from connector.core.notes.render import (
    FORMATS,
    NO_CHANGES,
    environment,
    render_change,
    render_release,
)

# --- content -----------------------------------------------------------------------------


def test_summary_is_the_first_paragraph_shortened() -> None:
    text = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="txt")
    assert "SECOND-PARAGRAPH" not in text
    long = make_change(description="word " * 300)
    summary = render_change(long, audience=Audience.ALL_USERS, fmt="txt").split("What changes: ")
    line = summary[1].split("\n")[0]
    assert line.endswith("…") and len(line) <= 500


def test_window_downtime_and_empty_values() -> None:
    text = render_change(HARDENING, audience=Audience.ALL_USERS, fmt="txt")
    assert "When: to be scheduled" in text
    assert "Expected downtime: none expected" in text
    assert "Affected services: not stated" in text
    text = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="txt")
    assert "When: 2026-11-21 22:00 UTC to 2026-11-22 01:30 UTC" in text
    assert "Expected downtime: about 30 minutes" in text


def test_security_section_only_when_security_relevant() -> None:
    assert "Security impact" not in render_change(CLEANUP, audience=Audience.ALL_USERS, fmt="md")
    level_only = make_change(security=SecurityImpact(level=SecurityLevel.HIGH))
    text = render_change(level_only, audience=Audience.ALL_USERS, fmt="txt")
    assert "Security impact" in text and "Security level: high" in text
    text = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="txt")
    assert "- Data sharing: This change creates or changes a path" in text
    assert "- User access: " in text
    assert "Security configuration" not in text


def test_release_routes_changes_to_audiences() -> None:
    security = render_release("2026.11", RELEASE, audience=Audience.SECURITY, fmt="txt")
    assert "Require TLS 1.3" in security and "evil" in security
    assert "staging queue" not in security
    admins = render_release("2026.11", RELEASE, audience=Audience.ADMINS, fmt="txt")
    assert "Require TLS 1.3" in admins and "staging queue" not in admins
    engineering = render_release("2026.11", RELEASE, audience=Audience.ENGINEERING, fmt="txt")
    assert all(c.title.split()[0] in engineering for c in RELEASE[1:])


@pytest.mark.parametrize("fmt", FORMATS)
def test_release_without_changes_says_so(fmt: str) -> None:
    text = render_release("2026.11", [CLEANUP], audience=Audience.ALL_USERS, fmt=fmt)
    assert NO_CHANGES.rstrip(".") in text
    assert "staging queue" not in text


# --- templates and formats ---------------------------------------------------------------


def test_override_dir_replaces_one_template_only(tmp_path: Path) -> None:
    (tmp_path / "change.md.j2").write_text("CUSTOM {{ note.title }} / {{ audience.label }}\n")
    md = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="md", templates=tmp_path)
    assert md.startswith("CUSTOM \\*Urgent\\* \\[click") and md.endswith("/ all users\n")
    # The override is escaped like a built-in template, and sees no internal details.
    assert "`@here`" in md
    # Other templates still come from the package.
    builtin = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="wiki")
    assert render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="wiki", templates=tmp_path) == (
        builtin
    )
    release = render_release(
        "r", [HOSTILE], audience=Audience.ALL_USERS, fmt="md", templates=tmp_path
    )
    assert release.startswith("# Release r: notes for all users") and "CUSTOM" in release


def test_override_cannot_reach_internal_details(tmp_path: Path) -> None:
    (tmp_path / "change.txt.j2").write_text("{{ note.internal.rollback_plan }}")
    with pytest.raises(jinja2.UndefinedError, match="rollback_plan"):
        render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="txt", templates=tmp_path)


def test_template_values_are_escaped_without_the_author_asking(tmp_path: Path) -> None:
    (tmp_path / "change.wiki.j2").write_text("{{ note.title }}|{{ '[~x]' }}|{{ 'ok'|safe }}")
    text = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="wiki", templates=tmp_path)
    assert text.startswith("\\*Urgent\\*") and text.endswith("|\\[\\~x\\]|ok")


def test_url_filter_only_passes_http_urls(tmp_path: Path) -> None:
    (tmp_path / "change.md.j2").write_text(
        "[a]({{ 'javascript:alert(1)'|url }}) {{ note.title|url }}"
    )
    text = render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="md", templates=tmp_path)
    assert text == "[a]() "


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'pdf'"):
        render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="pdf")
    with pytest.raises(ValueError, match="'rtf'"):
        render_release("r", [HOSTILE], audience=Audience.ALL_USERS, fmt="rtf")


def test_missing_override_dir_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="md", templates=tmp_path / "no")


def test_environment_is_built_once_per_format() -> None:
    assert environment("md") is environment("md")
    assert environment("md") is not environment("wiki")


def test_override_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "change.txt.j2").write_text("{{ note.__class__.__mro__ }}")
    with pytest.raises((jinja2.exceptions.SecurityError, jinja2.UndefinedError)):
        render_change(HOSTILE, audience=Audience.ALL_USERS, fmt="txt", templates=tmp_path)


def test_release_honours_configured_routes() -> None:
    routes = [Route(levels=(SecurityLevel.LOW,), audiences=(Audience.ALL_USERS,))]
    text = render_release("r", [CLEANUP], audience=Audience.ALL_USERS, fmt="txt", routes=routes)
    assert "staging queue" in text and NO_CHANGES not in text

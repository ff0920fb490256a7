"""config.example.toml as a first run takes it: every source in observe mode, scopes that keep
every change (closed ones too, and issues without labels), and no placeholder that would work as
a secret."""

from __future__ import annotations

import tomllib
from pathlib import Path

from test_settings import EXAMPLE_SECRETS

from connector.core import secret_rules
from connector.settings import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_every_example_source_starts_in_observe_mode() -> None:
    settings = load_settings(EXAMPLE, environ=EXAMPLE_SECRETS)
    assert settings.sources and {s.mode for s in settings.sources.values()} == {"observe"}
    text = EXAMPLE.read_text()
    assert 'mode = "enforce"' in text  # the comment says how to switch


def test_example_scopes_keep_closed_changes_and_issues_without_labels() -> None:
    settings = load_settings(EXAMPLE, environ=EXAMPLE_SECRETS)
    for rule in settings.policy.scope.values():
        assert "!=" not in rule.jql or "is EMPTY" in rule.jql, rule.jql
        assert "active=true" not in rule.query.replace(" ", ""), rule.query


def test_every_secret_placeholder_of_the_example_is_refused() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    refused = {".".join(path) for path, _ in secret_rules.problems(data)}
    placeholders = {
        ".".join(path)
        for pattern, _ in secret_rules.SECRET_KEYS
        for path, value in secret_rules._walk(data, pattern, ())
        if isinstance(value, str)
    }
    assert "reports.pack_key" in placeholders
    assert placeholders and refused == placeholders
    # And no other value of the example is a secret-looking key that the rules do not check
    # (the commented-out chat channels are checked uncommented by the notification tests).
    live = [line for line in EXAMPLE.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert sum("set-me-in-the-environment" in line for line in live) == len(placeholders)


def test_example_release_tickets_are_in_the_example_scope() -> None:
    # `release-notes --post` needs each release ticket stored, and only in-scope tickets are.
    settings = load_settings(EXAMPLE, environ=EXAMPLE_SECRETS)
    for source, ticket in settings.release_notes.release_tickets.items():
        projects = settings.policy.scope[source].projects
        assert ticket.split("-")[0] in projects, (source, ticket, projects)

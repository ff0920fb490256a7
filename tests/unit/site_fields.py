"""The shipped Jira mapping resolved against a known site's fields, for pure tests.

`mappings/jira-default.toml` names its custom fields by name; the worker resolves them against
the site's `GET /field` when it opens the source. Pure tests normalize stored payloads, so they
resolve against the field list of the site those payloads came from
(`tests/fixtures/mapping/jira_fields.json`).
"""

from __future__ import annotations

import json
from pathlib import Path

from connector.core.mapping import Mapping, load_mapping, resolve_names

ROOT = Path(__file__).resolve().parents[2]
JIRA_DEFAULT = ROOT / "mappings" / "jira-default.toml"
FIELDS_FILE = ROOT / "tests" / "fixtures" / "mapping" / "jira_fields.json"


def fixture_site_fields() -> list[tuple[str, str]]:
    """(id, name) of every field of the site the stored Jira payloads came from."""
    return [(f["id"], f["name"]) for f in json.loads(FIELDS_FILE.read_text(encoding="utf-8"))]


def resolved(mapping: Mapping, fields: list[tuple[str, str]] | None = None) -> Mapping:
    return resolve_names(mapping, fields or fixture_site_fields(), file=str(JIRA_DEFAULT))


def jira_default_mapping(fields: list[tuple[str, str]] | None = None) -> Mapping:
    """The shipped Jira mapping with its field names resolved (by default: the fixtures' site)."""
    return resolved(load_mapping(JIRA_DEFAULT), fields)

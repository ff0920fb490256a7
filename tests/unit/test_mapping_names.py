"""Jira fields named by name in a mapping: resolved against the site fields, or one-line errors."""

from __future__ import annotations

from typing import Any

import pytest

from connector.core.errors import MappingError
from connector.core.mapping import FieldRef, has_names, parse_mapping, resolve_names
from connector.core.mapping.normalize import RawTicket, normalize
from connector.core.model import Source, SystemKind

SITE = [
    ("summary", "Summary"),
    ("status", "Status"),
    ("customfield_10317", "Change risk"),
    ("customfield_10019", "Rank"),
    ("customfield_10020", "Sprint"),
    ("customfield_10500", "Start date"),
    ("customfield_10501", "Start date"),
    ("fixVersions", "Fix versions"),
]


def mapping(**fields: Any) -> Any:
    actions = {
        name: {"transition": name.title()}
        for name in ("needs_info", "approved", "scheduled", "rejected", "cancelled")
    }
    return parse_mapping(
        {
            "system": "jira",
            "scope": {"projects": ["CHG"]},
            "fields": {
                "title": {"source": "summary", "converter": "text"},
                "created": {"source": "created", "converter": "datetime"},
                "updated": {"source": "updated", "converter": "datetime"},
                **fields,
            },
            "status": {"source": "status", "map": {"Open": "draft"}},
            "actions": actions,
        },
        file="m.toml",
    )


RISK = {
    "source": {"name": "Change risk"},
    "converter": "option",
    "map": {"Low": "low", "High": "high"},
}


def test_a_name_resolves_to_the_sites_field_id() -> None:
    named = mapping(risk=RISK)
    assert has_names(named)
    assert named.fields["risk"].named == (FieldRef(name="Change risk"),)
    plain = resolve_names(named, SITE, file="m.toml")
    assert plain.fields["risk"].source == "customfield_10317"
    assert not has_names(plain)
    assert plain.fields["risk"].map == RISK["map"]


def test_names_match_ignoring_case_and_keep_a_path_and_plain_ids() -> None:
    named = mapping(
        risk={**RISK, "source": [{"name": "change RISK"}, "customfield_1"]},
        release={"source": {"name": "Fix versions", "path": "0.name"}, "converter": "text"},
    )
    plain = resolve_names(named, SITE, file="m.toml")
    assert plain.fields["risk"].source == ("customfield_10317", "customfield_1")
    assert plain.fields["release"].source == "fixVersions.0.name"


def test_the_resolved_mapping_reads_the_named_field_not_a_neighbour() -> None:
    plain = resolve_names(mapping(risk=RISK), SITE, file="m.toml")
    raw = RawTicket(
        data={
            "id": "1",
            "key": "CHG-1",
            "fields": {
                "summary": "Patch",
                "status": {"name": "Open"},
                "created": "2026-12-01T10:00:00.000+0000",
                "updated": "2026-12-01T10:00:00.000+0000",
                "customfield_10317": {"value": "High", "id": "1"},
                "customfield_10019": "0|i0000f:",
            },
        }
    )
    source = Source(instance="jira", kind=SystemKind.JIRA_CLOUD)
    change = normalize(raw, mapping=plain, source=source, base_url="https://x.example")
    assert change.risk is not None and change.risk.value == "high"


def test_a_missing_name_is_one_line_naming_file_key_and_name() -> None:
    with pytest.raises(MappingError) as err:
        resolve_names(mapping(risk={**RISK, "source": {"name": "Risk"}}), SITE, file="m.toml")
    assert str(err.value) == "m.toml: fields.risk.source: the site has no field named 'Risk'"


def test_an_ambiguous_name_names_both_ids() -> None:
    named = mapping(planned_start={"source": {"name": "Start date"}, "converter": "datetime"})
    with pytest.raises(MappingError) as err:
        resolve_names(named, SITE, file="m.toml")
    message = str(err.value)
    assert message.startswith("m.toml: fields.planned_start.source: 2 fields are named")
    assert "customfield_10500, customfield_10501" in message
    assert "\n" not in message


def test_an_unresolved_name_cannot_reach_the_normalizer() -> None:
    with pytest.raises(Exception, match="was not resolved"):
        _ = mapping(risk=RISK).fields["risk"].sources


def test_names_are_for_jira_only() -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(
            {
                "system": "servicenow",
                "fields": {"title": {"source": {"name": "Short description"}, "converter": "text"}},
            },
            file="sn.toml",
        )
    assert str(err.value).startswith("sn.toml: fields.title.source: { name = ... } names Jira")


def test_an_empty_name_is_refused_when_the_file_loads() -> None:
    with pytest.raises(MappingError) as err:
        mapping(risk={**RISK, "source": {"name": ""}})
    assert "fields.risk.source" in str(err.value)

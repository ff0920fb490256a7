"""Loading mapping files: the defaults are valid, and every bad file fails with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from site_fields import jira_default_mapping

from connector.core.errors import MappingError
from connector.core.mapping import (
    WorkerAction,
    check,
    check_files,
    load_mapping,
    load_mappings,
    parse_mapping,
    referenced_fields,
    referenced_transitions,
)
from connector.core.model import Outcome, Status
from connector.sandbox import catalog
from connector.sandbox.jira.fieldset import FieldSet

ROOT = Path(__file__).parents[2]
MAPPINGS = ROOT / "mappings"
FIXTURES = ROOT / "tests" / "fixtures" / "mapping"
JIRA_DEFAULT = MAPPINGS / "jira-default.toml"
SN_DEFAULT = MAPPINGS / "servicenow-default.toml"


def test_default_mappings_load() -> None:
    jira, sn = load_mappings([JIRA_DEFAULT, SN_DEFAULT])
    assert jira.system == "jira"
    assert jira.scope.projects == ("CHG", "OPS")
    assert jira.scope.issue_types == ("Change",)
    assert sn.system == "servicenow"
    assert sn.scope.table == "change_request"
    assert sn.scope.approvals_table == "sysapproval_approver"


# JSM change fields the connector's model has no attribute for.
_UNMAPPED_JSM_FIELDS = {
    "Change reason",
    "Urgency",
    "Affected services",
    "Approvers",
    "Pending reason",
    "Request Type",
}


def test_jira_default_maps_every_sandbox_custom_field() -> None:
    site = FieldSet(random_seed=11, cloud=True)
    jira = jira_default_mapping([(fid, f.name) for fid, f in site.fields.items()])
    used = referenced_fields(jira)
    # Every change field of the sandbox site (JSM's and the admin's) is mapped, by name.
    change_fields = [*catalog.JSM_CHANGE_FIELDS, *catalog.ADMIN_CHANGE_FIELDS]
    mapped = {f.name for f in change_fields if f.name not in _UNMAPPED_JSM_FIELDS}
    assert {site.id_of(name) for name in mapped} <= used
    # ... and none of the site's other custom fields (Rank, Sprint, story points...).
    assert (
        not {site.id_of(f.name) for f in catalog.SITE_CUSTOM_FIELDS if f.deployment != "datacenter"}
        & used
    )
    assert {"summary", "description", "reporter", "assignee", "labels", "components"} <= used
    assert {"fixVersions", "issuelinks", "status", "created", "updated"} <= used


def test_jira_default_status_map_covers_every_sandbox_status() -> None:
    jira = load_mapping(JIRA_DEFAULT)
    assert jira.status is not None
    assert set(jira.status.map) == set(catalog.JIRA_STATUSES)
    assert jira.status.map["Declined"] is Status.REJECTED


def test_jira_default_transitions_exist_in_the_sandbox_workflow() -> None:
    jira = load_mapping(JIRA_DEFAULT)
    names = {t.name for t in catalog.JIRA_WORKFLOW}
    assert referenced_transitions(jira) <= names
    # Transitions that need a resolution are given one.
    needs_resolution = {t.name for t in catalog.JIRA_WORKFLOW if t.requires_resolution}
    resolutions = {name for _, name in catalog.JIRA_RESOLUTIONS}
    for action in jira.actions.values():
        if action.transition in needs_resolution:
            assert action.fields["resolution"]["name"] in resolutions


def test_servicenow_default_actions_and_columns() -> None:
    sn = load_mapping(SN_DEFAULT)
    assert referenced_transitions(sn) == set()
    rejected = sn.action(WorkerAction.REJECTED)
    assert rejected is not None and rejected.state == "4"
    assert rejected.fields["close_code"] == "unsuccessful"
    revert = sn.action("unauthorized_revert")
    assert revert is not None and revert.state == "-3"
    drift = sn.action(WorkerAction.DRIFT)  # back to Authorize, the approval asked again
    assert drift is not None and drift.state == "-3"
    assert drift.fields["approval"] == "requested"
    assert load_mapping(JIRA_DEFAULT).action("drift") is None  # the workflow has no way back
    columns = referenced_fields(sn)
    assert {"number", "sys_id", "state", "approval", "on_hold", "u_affected_systems"} <= columns
    assert "sysapproval_approver" not in columns  # a related table, not a column


def test_check_summarises_each_file(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = check([JIRA_DEFAULT, SN_DEFAULT, FIXTURES / "bad_map_value.toml"])
    assert lines[0].startswith(f"{JIRA_DEFAULT}: ok (jira, ")
    assert lines[0].endswith("6 actions)")
    assert lines[1].startswith(f"{SN_DEFAULT}: ok (servicenow, ")
    assert lines[2].startswith(f"{FIXTURES / 'bad_map_value.toml'}: fields.change_class.map.Major")
    # Without files: every *.toml in ./mappings.
    monkeypatch.chdir(ROOT)
    results = check_files()
    files = {r.file for r in results}
    assert {"mappings/jira-default.toml", "mappings/servicenow-default.toml"} <= files
    assert all(r.ok for r in results), [r.line for r in results if not r.ok]


def test_check_reports_an_empty_directory(tmp_path: Path) -> None:
    [result] = check_files(directory=tmp_path)
    assert not result.ok
    assert result.line == f"{tmp_path}: (directory): no mapping files (*.toml) found"


# (file, dotted key, words the problem must contain)
BAD = [
    ("bad_unknown_attribute.toml", "fields.change_klass", "did you mean 'change_class'"),
    ("bad_unknown_converter.toml", "fields.risk.converter", "unknown converter 'optoin'"),
    ("bad_map_value.toml", "fields.change_class.map.Major", "'huge' is not a valid"),
    ("bad_approval_map_value.toml", "fields.approvals.map.declined", "'nope'"),
    ("bad_unknown_action.toml", "actions.aproved_fast", "unknown action"),
    ("bad_toml_syntax.toml", "line 17", "TOML syntax error"),
    ("does_not_exist.toml", "(file)", "no such file"),
    ("bad_unknown_key.toml", "fields.title.sourc", "did you mean 'source'"),
    ("bad_converter_target.toml", "fields.title.converter", "cannot fill 'title'"),
    ("bad_default.toml", "fields.customer_facing.default", "'perhaps'"),
    ("bad_missing_required.toml", "fields.created", "required"),
    ("bad_status_value.toml", "status.map.Done", "'finished'"),
    ("bad_missing_action.toml", "actions.scheduled", "required action missing"),
    ("bad_jira_action_state.toml", "actions.unauthorized_revert", "transition"),
    ("bad_jira_drift_state.toml", "actions.drift", "transition"),
    ("bad_scope_key.toml", "scope.table", "not used by jira"),
    ("bad_system.toml", "system", "'remedy'"),
    ("bad_nested_whole.toml", "fields.security", "security.level"),
    ("bad_identity_attribute.toml", "fields.key", "set from the ticket"),
    ("bad_source_type.toml", "fields.labels.source", "valid string"),
    ("bad_map_not_used.toml", "fields.links.map", "does not use a value map"),
]


@pytest.mark.parametrize(("name", "key", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_mapping_fails_with_one_line(name: str, key: str, words: str) -> None:
    path = FIXTURES / name
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert words in message
    assert caught.value.file == str(path)
    assert caught.value.key == key


def test_minimal_mapping_is_valid() -> None:
    mapping = load_mapping(FIXTURES / "minimal_jira.toml")
    assert set(mapping.fields) == {"created", "updated"}
    assert mapping.action(WorkerAction.UNAUTHORIZED_REVERT) is None


def test_nested_attribute_both_spellings() -> None:
    base = load_mapping(FIXTURES / "minimal_jira.toml").model_dump(exclude_defaults=True)
    spec = {"source": "customfield_10109", "converter": "option"}
    nested = parse_mapping({**base, "fields": {**base["fields"], "security": {"level": spec}}})
    quoted = parse_mapping({**base, "fields": {**base["fields"], "security.level": spec}})
    assert nested == quoted
    assert "security.level" in nested.fields


def test_map_keys_with_spaces_are_quoted_in_the_message() -> None:
    base = load_mapping(FIXTURES / "minimal_jira.toml").model_dump(exclude_defaults=True)
    spec = {"source": "x", "converter": "option", "map": {"More information": "more-infos"}}
    with pytest.raises(MappingError) as caught:
        parse_mapping({**base, "fields": {**base["fields"], "cab_decision": spec}}, file="m.toml")
    assert str(caught.value).startswith('m.toml: fields.cab_decision.map."More information": ')


def test_status_rule_errors_count_from_one() -> None:
    base = load_mapping(FIXTURES / "minimal_jira.toml").model_dump(exclude_defaults=True)
    status = {
        "source": "status",
        "map": {},
        "rules": [{"when": {"a": "b"}, "status": "closed"}, {"when": {"a": "c"}, "status": "shut"}],
    }
    with pytest.raises(MappingError) as caught:
        parse_mapping({**base, "status": status}, file="m.toml")
    assert str(caught.value).startswith("m.toml: status.rules[2].status: 'shut' is not a valid")


def test_outcome_is_a_mappable_enum_target() -> None:
    base = load_mapping(FIXTURES / "minimal_jira.toml").model_dump(exclude_defaults=True)
    spec = {
        "source": "resolution",
        "converter": "option",
        "map": {"Done": "successful", "Rolled back": "rolled-back", "Won't Do": "", "*": ""},
    }
    mapping = parse_mapping({**base, "fields": {**base["fields"], "outcome": spec}})
    outcome = mapping.fields["outcome"]
    assert outcome.map is not None and outcome.map["Rolled back"] == "rolled-back"


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        (
            {"source": "resolution", "converter": "option", "map": {"Done": "success"}},
            "fields.outcome.map.Done",
            "'success' is not a valid value of 'outcome' (expected one of: successful, failed, "
            "rolled-back)",
        ),
        (
            {"source": "resolution", "converter": "option", "map": {"Won't Do": "cancelled"}},
            'fields.outcome.map."Won\'t Do"',
            "'cancelled' is not a valid value of 'outcome'",
        ),
        (
            {"source": "resolution", "converter": "option", "default": "rolled_back"},
            "fields.outcome.default",
            "'rolled_back' is not valid for 'outcome'",
        ),
        (
            {"source": "resolution", "converter": "user"},
            "fields.outcome.converter",
            "cannot fill 'outcome', which takes one of: successful, failed, rolled-back",
        ),
    ],
    ids=["map-value", "quoted-map-key", "default", "converter"],
)
def test_bad_outcome_fails_with_one_line(spec: dict[str, object], key: str, words: str) -> None:
    base = load_mapping(FIXTURES / "minimal_jira.toml").model_dump(exclude_defaults=True)
    with pytest.raises(MappingError) as caught:
        parse_mapping({**base, "fields": {**base["fields"], "outcome": spec}}, file="m.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"m.toml: {key}: "), message
    assert words in message
    assert caught.value.key == key


def test_default_outcome_maps_cover_the_sandbox_values() -> None:
    jira, sn = load_mappings([JIRA_DEFAULT, SN_DEFAULT])
    jira_map = jira.fields["outcome"].map
    assert jira_map is not None
    # Every sandbox resolution is named, not left to the "*" catch-all.
    assert {name for _, name in catalog.JIRA_RESOLUTIONS} <= set(jira_map)
    assert {jira_map["Done"], jira_map["Failed"], jira_map["Rolled back"]} == set(Outcome)
    assert jira_map["Declined"] == jira_map["Won't Do"] == ""
    sn_map = sn.fields["outcome"].map
    assert sn_map is not None
    assert (sn.fields["outcome"].source, sn_map["unsuccessful"]) == ("close_code", "failed")
    assert sn_map["successful"] == sn_map["successful_issues"] == "successful"


def test_mapping_is_frozen() -> None:
    mapping = load_mapping(JIRA_DEFAULT)
    with pytest.raises(ValueError):
        mapping.system = "servicenow"  # type: ignore[misc]

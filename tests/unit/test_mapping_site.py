"""The live mapping core: documented bodies -> site, site -> mapping file, mapping vs site.

Every check rule gives exactly one line naming the file and the dotted key; `init` output
loads with the ordinary loader, and passes the check on the site it came from.
"""

from __future__ import annotations

import tomllib

from live_site import (
    IMPACT,
    choice_rows,
    dictionary_rows,
    jira_site,
    project_statuses,
    servicenow_site,
)

from connector.core.mapping import Mapping, parse_mapping
from connector.core.mapping import site_read as parse
from connector.core.mapping.site import SiteField
from connector.core.mapping.site_check import Problem, check_site
from connector.core.mapping.site_init import render_mapping

FILE = "mappings/site.toml"


def load(text: str) -> Mapping:
    return parse_mapping(tomllib.loads(text), file=FILE)


def lines(problems: list[Problem]) -> list[str]:
    return [p.line for p in problems]


def errors(problems: list[Problem]) -> list[str]:
    return [p.line for p in problems if p.error]


# ---- parsing documented bodies -------------------------------------------------------------


def test_statuses_come_from_the_issue_type_with_their_categories() -> None:
    statuses = parse.jira_statuses(project_statuses(), ["change"])
    assert statuses[0].name == "Open" and statuses[0].category == "new"
    assert {s.name: s.category for s in statuses}["Completed"] == "done"
    assert len(statuses) == 10  # the Task type's statuses are not the change's


def test_context_options_keep_disabled_ones_and_leave_cascading_children_out() -> None:
    values = [
        {"id": "1", "value": "Low", "disabled": False},
        {"id": "2", "value": "Old", "disabled": True},
        {"id": "3", "value": "Child", "disabled": False, "optionId": "1"},
    ]
    assert parse.context_options(values) == ("Low", "Old")


def test_transitions_seen_from_several_statuses_merge() -> None:
    site = jira_site()
    decline = site.transition("decline")
    assert len(decline) == 1
    assert set(decline[0].from_statuses) == {"Awaiting approval", "Needs information"}
    assert decline[0].needs_resolution and "Declined" in decline[0].resolutions
    assert site.transition("Cancel")[0].is_global


def test_choices_of_the_change_table_override_its_parent() -> None:
    fields = parse.sn_fields(dictionary_rows(), choice_rows(), tables=("change_request", "task"))
    state = next(f for f in fields if f.id == "state")
    assert state.options is not None and "-5" in state.options and "1" not in state.options
    assert state.label_of("-3") == "Authorize"
    assert next(f for f in fields if f.id == "description").options is None


def test_display_value_cells_are_read_by_value() -> None:
    rows = [{k: {"value": v, "display_value": v.upper()} for k, v in r.items()} for r in
            dictionary_rows()]  # fmt: skip
    fields = parse.sn_fields(rows, [], tables=("change_request", "task"))
    assert next(f for f in fields if f.id == "assigned_to").reference == "sys_user"


# ---- init ----------------------------------------------------------------------------------


def test_init_names_fields_maps_jsm_options_and_leaves_unknown_ones_as_todo() -> None:
    rendered = render_mapping(jira_site())
    text = rendered.text
    assert 'source = { name = "Impact" }  # customfield_10317 on this site' in text
    for option, value in zip(IMPACT, ("major", "major", "minor", "minor"), strict=True):
        assert f'"{option}" = "{value}"' in text
    assert '# TODO "Catastrophic" = ...' in text
    assert "fields.change_class.map.Catastrophic" in rendered.todos
    # Two fields are called "Test plan": named by id, with the name in a comment.
    assert 'source = "customfield_10324"  # Test plan (not the only field' in text
    assert '"Medium" = "moderate"' in text and '"Critical" = "very-high"' in text
    assert '"Yes" = true' in text


def test_init_maps_statuses_and_picks_transitions_from_the_workflow() -> None:
    rendered = render_mapping(jira_site())
    mapping = load(rendered.text)
    assert mapping.status is not None
    assert mapping.status.map["Open"] == "draft"
    assert mapping.status.map["Completed"] == "closed"
    assert "Failed" not in mapping.status.map and "status.map.Failed" in rendered.todos
    assert mapping.actions["needs_info"].transition == "Ask for information"
    assert mapping.actions["resubmit"].transition == "Submit"
    assert mapping.actions["rejected"].transition == "Decline"
    assert mapping.actions["rejected"].fields == {"resolution": {"name": "Declined"}}
    assert mapping.actions["cancelled"].fields == {"resolution": {"name": "Won't Do"}}


def test_init_output_round_trips_and_passes_the_check_on_its_site() -> None:
    site = jira_site()
    mapping = load(render_mapping(site).text)
    assert load(render_mapping(site).text) == mapping
    found = check_site(mapping, site, file=FILE)
    assert errors(found) == []
    # The TODO option and status are the only warnings.
    assert lines(found) == [
        f"{FILE}: fields.change_class.map: warning: option 'Catastrophic' of Impact "
        "(customfield_10317) has no entry: tickets with it are skipped "
        '(add it, or "*" for the rest)',
        f"{FILE}: status.map: warning: status 'Failed' (done) has no entry: tickets in it are "
        "skipped",
    ]


def test_servicenow_init_uses_choice_values_and_passes_the_check() -> None:
    site = servicenow_site()
    rendered = render_mapping(site)
    mapping = load(rendered.text)
    assert mapping.fields["risk"].map == {
        "1": "very-high",
        "2": "high",
        "3": "moderate",
        "4": "low",
    }
    assert mapping.fields["change_class"].map == {"1": "major", "2": "minor", "3": "minor"}
    assert mapping.fields["requester"].converter == "reference"
    assert mapping.fields["requester"].source == ("requested_by", "opened_by")
    assert mapping.fields["description"].converter == "text"  # no wiki markup in ServiceNow
    assert mapping.fields["change_type"].converter == "option"
    # Free text read as a CAB decision: the words that mean one, anything else no value.
    cab = mapping.fields["cab_decision"].map
    assert cab is not None and cab["more information"] == "more-info" and cab["*"] == ""
    assert mapping.fields["affected_services"].converter == "cmdb-ci"
    assert mapping.fields["standard_template"].converter == "display"
    assert mapping.actions["approved"].state == "-3"
    assert mapping.actions["rejected"].fields["close_code"] == "unsuccessful"
    assert mapping.status is not None and mapping.status.map["-2"] == "scheduled"
    assert "fields.change_type.map.expedited" in rendered.todos
    assert errors(check_site(mapping, site, file=FILE)) == []


# ---- check: one line per problem -----------------------------------------------------------


def jira_mapping(old: str, new: str) -> Mapping:
    text = render_mapping(jira_site()).text
    assert old in text
    return load(text.replace(old, new, 1))


def test_a_map_key_that_is_not_an_option_is_an_error() -> None:
    mapping = jira_mapping('"Significant / Large" = "major"', '"Major" = "major"')
    found = errors(check_site(mapping, jira_site(), file=FILE))
    assert found == [
        f"{FILE}: fields.change_class.map.Major: 'Major' is not an option of Impact "
        "(customfield_10317) (site has: 'Extensive / Widespread', 'Significant / Large', "
        "'Moderate / Limited', 'Minor / Localized', 'Catastrophic')"
    ]


def test_an_option_without_an_entry_is_a_warning() -> None:
    mapping = jira_mapping('"Medium" = "moderate"\n', "")
    found = check_site(mapping, jira_site(), file=FILE)
    medium = [p for p in found if "'Medium'" in p.message]
    assert len(medium) == 1 and not medium[0].error
    assert medium[0].line.startswith(f"{FILE}: fields.risk.map: warning: option 'Medium'")


def test_a_text_converter_on_a_datetime_field_is_an_error() -> None:
    mapping = jira_mapping(
        'source = { name = "Standard change template" }', 'source = { name = "Planned start" }'
    )
    assert errors(check_site(mapping, jira_site(), file=FILE)) == [
        f"{FILE}: fields.standard_template.converter: converter 'text' cannot read Planned "
        "start (customfield_10318), a datetime field (site has: datetime; use: datetime)"
    ]


def test_an_id_of_another_site_pointing_at_rank_is_caught_by_kind() -> None:
    mapping = jira_mapping('source = { name = "Planned end" }', 'source = "customfield_10016"')
    assert errors(check_site(mapping, jira_site(), file=FILE)) == [
        f"{FILE}: fields.planned_end.converter: converter 'datetime' cannot read Story point "
        "estimate (customfield_10016), a number field (site has: number; use: number, "
        "option, text)"
    ]


def test_a_transition_unreachable_from_its_status_is_an_error() -> None:
    mapping = jira_mapping('transition = "Approve"', 'transition = "Schedule"')
    assert errors(check_site(mapping, jira_site(), file=FILE)) == [
        f"{FILE}: actions.approved.transition: transition 'Schedule' is not offered from "
        "'Awaiting approval', where the worker uses 'approved' (site has it from: Approved)"
    ]


def test_unknown_transition_status_and_resolution_are_errors() -> None:
    text = render_mapping(jira_site()).text
    text = text.replace('transition = "Approve"', 'transition = "Rubber-stamp"')
    text = text.replace('"Open" = "draft"', '"Backlog" = "draft"')
    text = text.replace('name = "Declined"', 'name = "Nope"')
    found = errors(check_site(load(text), jira_site(), file=FILE))
    assert len(found) == 3
    assert found[0].startswith(f"{FILE}: status.map.Backlog: no status 'Backlog' in the workflow")
    assert found[1].startswith(
        f"{FILE}: actions.approved.transition: no transition named 'Rubber-stamp' (site has: "
    )
    assert found[2].startswith(
        f"{FILE}: actions.rejected.fields.resolution: resolution 'Nope' is not allowed "
        "(site has: Declined, Done, Failed, Won't Do)"
    )


def test_a_field_name_missing_or_ambiguous_on_the_site_is_an_error() -> None:
    text = render_mapping(jira_site()).text
    text = text.replace('source = "customfield_10324"', 'source = { name = "Test plan" }')
    text = text.replace('{ name = "Change risk" }', '{ name = "Risk level" }')
    found = errors(check_site(load(text), jira_site(), file=FILE))
    assert found == [
        f"{FILE}: fields.risk.source: field name 'Risk level': no field of that name on the "
        "site (name it by id)",
        f"{FILE}: fields.test_plan.source: field name 'Test plan': 2 fields are named so: "
        "customfield_10324, customfield_10325 on the site (name it by id)",
    ]


def test_unknown_servicenow_choice_values_are_errors() -> None:
    site = servicenow_site()
    text = render_mapping(site).text
    text = text.replace('"4" = "low"', '"5" = "low"')
    text = text.replace('[actions.scheduled]\nstate = "-2"', '[actions.scheduled]\nstate = "9"')
    text = text.replace('"0" = "review"', '"7" = "review"')
    found = errors(check_site(load(text), site, file=FILE))
    assert len(found) == 3
    assert found[0] == (
        f"{FILE}: fields.risk.map.5: '5' is not an option of Risk (risk) (site has: "
        "'1' (Very High), '2' (High), '3' (Moderate), '4' (Low))"
    )
    assert found[1].startswith(f"{FILE}: status.map.7: '7' is not a choice of state (site has: ")
    assert found[2].startswith(f"{FILE}: actions.scheduled.state: '9' is not a choice of state")


def test_a_servicenow_column_that_is_not_in_the_dictionary_is_an_error() -> None:
    text = render_mapping(servicenow_site()).text.replace('"backout_plan"', '"u_backout"')
    assert errors(check_site(load(text), servicenow_site(), file=FILE)) == [
        f"{FILE}: fields.rollback_plan.source: no field 'u_backout' on the site"
    ]


def test_a_jira_status_rule_on_a_resolution_the_site_lacks_is_an_error() -> None:
    text = render_mapping(jira_site()).text.replace(
        "[status.map]",
        '[[status.rules]]\nwhen = { resolution = ["Won\'t Do", "Abandoned"] }\n'
        'status = "cancelled"\n\n[status.map]',
    )
    assert errors(check_site(load(text), jira_site(), file=FILE)) == [
        f"{FILE}: status.rules[1].when.resolution: 'Abandoned' is not a choice of resolution "
        "(site has: 'Done', \"Won't Do\", 'Declined', 'Failed')"
    ]


def test_init_passes_over_a_named_field_whose_type_does_not_fit() -> None:
    site = jira_site()
    fields = [
        f.model_copy(update={"kind": "number"}) if f.name == "Planned start" else f
        for f in site.fields
    ]
    extra = [
        SiteField(id="customfield_10400", name="Change start date", kind="datetime"),
        SiteField(id="customfield_10401", name="CAB approvers", kind="array:sd-approvals"),
    ]
    rendered = render_mapping(site.model_copy(update={"fields": (*fields, *extra)})).text
    mapping = load(rendered)
    start = mapping.fields["planned_start"]
    assert start.named[0].name == "Change start date" and start.converter == "datetime"
    # No field is called "Approvals": the only field of JSM's approvals type is.
    approvals = mapping.fields["approvals"]
    assert approvals.named[0].name == "CAB approvers" and approvals.converter == "sd-approvals"


def test_init_comments_out_an_attribute_no_field_can_fill() -> None:
    site = jira_site()
    fields = tuple(
        f.model_copy(update={"kind": "array:user"}) if f.name == "Rollback plan" else f
        for f in site.fields
    )
    text = render_mapping(site.model_copy(update={"fields": fields})).text
    assert (
        "# [fields.rollback_plan]  (Rollback plan (customfield_10320) is of type array:user: "
        "no converter fits)"
    ) in text
    assert "rollback_plan" not in load(text).fields


def test_options_with_quotes_and_backslashes_round_trip() -> None:
    site = jira_site()
    odd = 'Low "ish" \\ C:\\temp'
    fields = tuple(
        f.model_copy(update={"options": (odd, 'Very "high"')}) if f.name == "Change risk" else f
        for f in site.fields
    )
    site = site.model_copy(update={"fields": fields})
    rendered = render_mapping(site)
    mapping = load(rendered.text)
    assert mapping.fields["risk"].map == {'Very "high"': "very-high"}
    assert errors(check_site(mapping, site, file=FILE)) == []
    assert f"fields.risk.map.{odd}" in rendered.todos
    assert '# TODO "Low \\"ish\\" \\\\ C:\\\\temp" = ...' in rendered.text


def test_drift_is_written_only_where_the_workflow_goes_back_and_is_checked() -> None:
    # This Jira workflow offers no way from Approved or Scheduled back to the approvers.
    text = render_mapping(jira_site()).text
    assert "# [actions.drift]" in text and "drift" not in load(text).actions
    drifting = load(text + '\n[actions.drift]\ntransition = "Submit"\n')
    assert errors(check_site(drifting, jira_site(), file=FILE)) == [
        f"{FILE}: actions.drift.transition: transition 'Submit' is not offered from 'Approved', "
        "'Scheduled', where the worker uses 'drift' (site has it from: Needs information, Open)"
    ]
    site = servicenow_site()
    mapping = load(render_mapping(site).text)
    drift = mapping.actions["drift"]
    assert drift.state == "-3" and drift.fields["approval"] == "requested"
    assert errors(check_site(mapping, site, file=FILE)) == []
    wrong = render_mapping(site).text.replace(
        '[actions.drift]\nstate = "-3"', '[actions.drift]\nstate = "9"'
    )
    [problem] = errors(check_site(load(wrong), site, file=FILE))
    assert problem.startswith(f"{FILE}: actions.drift.state: '9' is not a choice of state")

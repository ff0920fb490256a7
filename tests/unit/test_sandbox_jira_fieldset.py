"""The Jira sandbox's field configuration: ids per instance, JSM's options, the site's fields."""

from __future__ import annotations

import pytest

from connector.sandbox.catalog import (
    ADMIN_PERMISSIONS,
    INTEGRATION_PERMISSIONS,
    USERS_BY_LOGIN,
    jira_permissions,
)
from connector.sandbox.jira.fieldset import RAW, STRING, FieldSet


def test_custom_field_ids_come_from_the_seed() -> None:
    first, again = FieldSet(random_seed=1, cloud=True), FieldSet(random_seed=1, cloud=True)
    assert first.custom_ids == again.custom_ids
    assert first.option_ids == again.option_ids
    others = [FieldSet(random_seed=seed, cloud=True).custom_ids for seed in (2, 3, 4)]
    for ids in others:
        assert ids.keys() == first.custom_ids.keys()
        assert ids != first.custom_ids
    # No seed keeps the catalog order of old: the ids say nothing about the names.
    assert len({ids["Impact"] for ids in [first.custom_ids, *others]}) > 1


def test_ids_and_option_ids_are_unique() -> None:
    site = FieldSet(random_seed=5, cloud=True)
    assert len(set(site.custom_ids.values())) == len(site.custom_ids)
    every_option = [oid for options in site.option_ids.values() for oid in options.values()]
    assert len(set(every_option)) == len(every_option)
    for name, fid in site.custom_ids.items():
        number = int(fid.removeprefix("customfield_"))
        details = site.details(fid)
        assert details["schema"]["customId"] == number
        assert details["clauseNames"] == [f"cf[{number}]", name]


def test_jsm_change_fields_carry_jsm_options() -> None:
    site = FieldSet(random_seed=0, cloud=True)
    impact = site[site.id_of("Impact")]
    assert impact.options == (
        "Extensive / Widespread",
        "Significant / Large",
        "Moderate / Limited",
        "Minor / Localized",
    )
    assert site[site.id_of("Urgency")].options == ("Critical", "High", "Medium", "Low")
    assert "New functionality" in site[site.id_of("Change reason")].options
    for name in ("Change start date", "Change completion date"):
        schema = site.details(site.id_of(name))["schema"]
        assert schema["type"] == "datetime"
    approvals = site.details(site.id_of("Approvals"))["schema"]
    assert approvals["type"] == "sd-approvals"
    assert approvals["custom"] == "com.atlassian.servicedesk.approvals-plugin:sd-approvals"


def test_the_site_fields_of_each_deployment() -> None:
    cloud, dc = FieldSet(random_seed=0, cloud=True), FieldSet(random_seed=0, cloud=False)
    rank = cloud.details(cloud.id_of("Rank"))["schema"]
    assert rank["type"] == "string"
    assert rank["custom"] == "com.pyxis.greenhopper.jira:gh-lexo-rank"
    assert cloud[cloud.id_of("Rank")].kind == STRING and not cloud[cloud.id_of("Rank")].editable
    sprint = cloud.details(cloud.id_of("Sprint"))["schema"]
    assert (sprint["type"], sprint["items"]) == ("array", "json")
    assert cloud.details(cloud.id_of("Start date"))["schema"]["type"] == "date"
    assert cloud.details(cloud.id_of("Team"))["schema"]["type"] == "team"
    assert dc.details(dc.id_of("Team"))["schema"]["type"] == "any"
    assert cloud[cloud.id_of("Team")].kind == RAW
    story = cloud.details(cloud.id_of("Story point estimate"))["schema"]
    assert story["custom"] == "com.pyxis.greenhopper.jira:jsw-story-points"
    assert "Epic Link" in dc.custom_ids and "Epic Link" not in cloud.custom_ids
    assert "Story point estimate" not in dc.custom_ids


def test_id_of_an_unknown_name_names_it() -> None:
    with pytest.raises(KeyError, match="Change colour"):
        FieldSet(random_seed=0, cloud=True).id_of("Change colour")


def test_select_reads_the_instance_ids() -> None:
    site = FieldSet(random_seed=9, cloud=True)
    risk = site.id_of("Change risk")
    assert site.select([f"summary,{risk}"], "*all") == ["summary", risk]
    assert site.select(["customfield_10100"], "*all") == (
        ["customfield_10100"] if "customfield_10100" in site else []
    )
    assert risk in site.select(["*all"], "id") and "comment" not in site.select([], "*navigable")


def test_the_permission_table() -> None:
    connector = jira_permissions(USERS_BY_LOGIN["connector"])
    assert connector == INTEGRATION_PERMISSIONS
    assert {"BROWSE_PROJECTS", "EDIT_ISSUES", "TRANSITION_ISSUES", "ADD_COMMENTS"} <= connector
    assert not {"CREATE_ISSUES", "DELETE_ISSUES", "ADMINISTER", "ADMINISTER_PROJECTS"} & connector
    assert jira_permissions(USERS_BY_LOGIN["admin"]) == ADMIN_PERMISSIONS
    people = jira_permissions(USERS_BY_LOGIN["bob"])
    assert "CREATE_ISSUES" in people and "DELETE_ISSUES" not in people

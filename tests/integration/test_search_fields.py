"""A search names the fields the mapping reads instead of asking for every field (a real site's
issues carry hundreds of custom fields): what the pipeline builds from the smaller pages is the
same, ticket for ticket, on both deployments, and a page is one call with no field list read."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.commands.demo import sandbox_sources
from connector.core.mapping import RawTicket, load_mapping, normalize, referenced_fields
from connector.core.model import Source
from connector.sandbox import Sandbox
from connector.sync.reader import read_all, scope_jql, site_mapping
from connector.systems.jira import JiraAdapter
from connector.systems.jira_seen import SEEN_FIELDS

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "mappings" / "jira-default.toml"


@pytest.fixture(params=["cloud", "datacenter"])
def deployed(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    name = "sandbox" if request.param == "cloud" else "sandbox_datacenter"
    yield request.getfixturevalue(name)
    gc.collect()


def test_named_fields_build_the_same_changes_as_every_field(deployed: Sandbox) -> None:
    settings = sandbox_sources(deployed.info)["sandbox-jira"]
    jira = JiraAdapter("sandbox-jira", settings)
    try:
        mapping = site_mapping(jira, load_mapping(MAPPING), file=str(MAPPING))
        source = Source(instance="sandbox-jira", kind=jira.kind)
        before = len(deployed.state.requests)
        named = {r.data["key"]: r for r in read_all(jira, mapping)}
        searches = [r for r in deployed.state.requests[before:] if r.system == "jira"]
        every = {i["key"]: RawTicket(data=i) for i in jira.search(scope_jql(mapping))}
    finally:
        jira.close()
    assert len(named) > 50 and named.keys() == every.keys()
    # Smaller pages: only the mapping's fields and the adapter's own came back.
    wanted = referenced_fields(mapping) | set(SEEN_FIELDS)
    some = next(iter(named.values())).data["fields"]
    assert set(some) <= wanted and len(next(iter(every.values())).data["fields"]) > len(some)
    assert all("/search" in r.path for r in searches)  # no field list read before a page

    def build(raw: RawTicket) -> str:
        change = normalize(raw, mapping=mapping, source=source, base_url=settings.url)
        return change.model_dump_json()

    assert {k: build(r) for k, r in named.items()} == {k: build(r) for k, r in every.items()}

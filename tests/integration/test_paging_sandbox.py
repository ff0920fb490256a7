"""Search paging against the sandbox, both deployments: page sizes that do not divide the
result set, the last page short, and no ticket lost or read twice.

Pages shorter than asked in the middle of a search (a Data Center admin's lower maximum) and
pages without the optional fields are exercised over `responses` in
tests/unit/test_systems_jira_paging.py.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox, SandboxOptions
from connector.systems.jira import JiraAdapter

JQL = "project in (CHG, OPS) ORDER BY key ASC"


def _adapter(sandbox: Sandbox, page_size: int) -> JiraAdapter:
    source = sandbox_sources(sandbox.info)["sandbox-jira"]
    return JiraAdapter("sandbox-jira", source.model_copy(update={"page_size": page_size}))


@pytest.fixture(params=["cloud", "datacenter"])
def deployed(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    name = "sandbox" if request.param == "cloud" else "sandbox_datacenter"
    yield request.getfixturevalue(name)
    gc.collect()


@pytest.mark.parametrize("page_size", [1, 7, 1000])
def test_search_reads_every_ticket_once(deployed: Sandbox, page_size: int) -> None:
    expected = sorted(
        i.key for i in deployed.jira.store.issues.values() if i.project in {"CHG", "OPS"}
    )
    assert len(expected) > 7  # several pages at size 7, the last one short
    jira = _adapter(deployed, page_size)
    try:
        keys = [issue["key"] for issue in jira.search(JQL, fields="status")]
    finally:
        jira.close()
    assert sorted(keys) == expected
    assert len(keys) == len(set(keys))


def test_page_requests_follow_the_documented_signal(deployed: Sandbox) -> None:
    """At size 7, exactly ceil(n / 7) search requests (plus none after the documented end)."""
    total = sum(1 for i in deployed.jira.store.issues.values() if i.project in {"CHG", "OPS"})
    jira = _adapter(deployed, 7)
    before = len(deployed.state.requests)
    try:
        count = sum(1 for _ in jira.search(JQL, fields="status"))
    finally:
        jira.close()
    searches = [r for r in deployed.state.requests[before:] if "/search" in r.path]
    assert count == total
    pages = -(-total // 7)
    # Cloud ends on the page without nextPageToken; Data Center when startAt reaches total.
    assert len(searches) == pages


def test_data_center_pages_shorter_than_asked_lose_no_ticket(tmp_path: Path) -> None:
    """An admin lowered the site's maximum to 7: every page is shorter than the 50 asked while
    `total` says more; the adapter follows `total`, not the page length, to the end."""
    sandbox = Sandbox(
        SandboxOptions(
            data_dir=tmp_path, mode="datacenter", random_seed=4242, seed_count=40, max_results=7
        )
    )
    sandbox.start()
    try:
        expected = sorted(
            i.key for i in sandbox.jira.store.issues.values() if i.project in {"CHG", "OPS"}
        )
        assert len(expected) > 14  # at least three pages of 7
        jira = _adapter(sandbox, 50)
        before = len(sandbox.state.requests)
        try:
            keys = [issue["key"] for issue in jira.search(JQL, fields="status")]
        finally:
            jira.close()
        searches = [r for r in sandbox.state.requests[before:] if "/search" in r.path]
    finally:
        sandbox.stop()
    assert sorted(keys) == expected
    assert len(keys) == len(set(keys))
    assert len(searches) == -(-len(expected) // 7)  # and none after the end

"""Concurrent writes at the default `write_concurrency` (4), read back from the sandbox's request
log (each request's arrival and the start of its answer): tickets are written side by side, at
most `write_concurrency` calls of a source at once, but never two calls on the same ticket at
once; and a 429 with Retry-After on one call pauses every call of that source, not only the
refused one's retry."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from contextlib import closing
from itertools import pairwise
from pathlib import Path
from typing import Any

from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import jira_markers, request_log, running_sandbox, servicenow_markers

from connector.commands.demo import sandbox_sources
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

# The ticket a call is about, from its path: a Jira issue, a ServiceNow change.
TICKET = re.compile(r"/rest/api/\d+/issue/([^/]+)|/table/change_request/([0-9a-f]{32})")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
CONCURRENCY = 4


def ticket_of(path: str) -> str | None:
    found = TICKET.search(path)
    return None if found is None else (found.group(1) or found.group(2))


def connector_calls(info: Any, system: str | None = None) -> list[dict[str, Any]]:
    """The worker's calls (a call refused by an injected fault is logged without its user:
    the worker is the only other client of these systems here)."""
    return [
        r
        for r in request_log(info)
        if r["user"] in ("connector", None)
        and r["system"] in ("jira", "servicenow")
        and (system is None or r["system"] == system)
    ]


def most_in_flight(calls: Iterable[dict[str, Any]]) -> int:
    """The most calls in flight at one moment (an answer that starts as another call arrives
    counts as done)."""
    calls = list(calls)
    events = sorted(
        [(c["started"], 1) for c in calls] + [(c["at"], -1) for c in calls],
        key=lambda e: (e[0], e[1]),
    )
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def sync(store_url: str, info: Any, *, only: set[str] | None = None) -> None:
    """One cycle at the default `write_concurrency` (4)."""
    sources = {name: s for name, s in sandbox_sources(info).items() if only is None or name in only}
    assert {s.write_concurrency for s in sources.values()} == {CONCURRENCY}
    with (
        closing(Store.open(store_url)) as store,
        closing(Worker(Settings(sources=sources), store, name="concurrent").open()) as worker,
    ):
        stats = worker.sync_once()
        assert not any(s.failed for s in stats), [s.failed for s in stats]


def test_tickets_are_written_side_by_side_never_two_calls_on_one_ticket(
    tmp_path: Path, store_url: str
) -> None:
    # every call answered 30 ms late: calls that overlap in time show it in the log
    with running_sandbox(
        tmp_path, seed_count=60, random_seed=5, faults="slow:rate=1,delay=0.03"
    ) as sandbox:
        info = sandbox.info
        sync(store_url, info)
        calls = connector_calls(info)
        per_ticket: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for call in calls:
            ticket = ticket_of(call["path"])
            if ticket is not None:
                per_ticket[ticket].append(call)
        assert len(per_ticket) > 60
        for ticket, its in per_ticket.items():
            its.sort(key=lambda c: c["started"])
            for before, after in pairwise(its):
                assert after["started"] >= before["at"], (ticket, before, after)
        for system in ("jira", "servicenow"):
            writes = [
                c
                for c in calls
                if c["system"] == system and c["method"] in WRITES and "/search" not in c["path"]
            ]
            assert writes
            # side by side, but never more at once than the source allows
            assert 2 <= most_in_flight(writes) <= CONCURRENCY
            assert most_in_flight(c for c in calls if c["system"] == system) <= CONCURRENCY
        jira, snow = jira_markers(sandbox), servicenow_markers(sandbox, info)
        assert jira and snow
        assert set(jira.values()) == {1} and set(snow.values()) == {1}


def test_a_429_on_one_call_pauses_every_call_of_the_source(tmp_path: Path, store_url: str) -> None:
    retry_after = 1.0
    faults = f"429@jira:rate=0.03,retry_after={retry_after:g};slow:rate=1,delay=0.02"
    with running_sandbox(tmp_path, seed_count=80, random_seed=6, faults=faults) as sandbox:
        info = sandbox.info
        sync(store_url, info, only={"sandbox-jira"})
        calls = sorted(connector_calls(info, "jira"), key=lambda c: c["started"])
        first_write = min(
            c["started"] for c in calls if c["method"] in WRITES and "/search" not in c["path"]
        )
        refused = [c for c in calls if c["status"] == 429 and c["started"] > first_write]
        assert refused, "no 429 while writing: the test proves nothing"
        # the writes did run side by side in this run, so a quiet gap is the shared pause
        assert most_in_flight(c for c in calls if c["started"] > first_write) >= 2
        for refusal in refused:
            # the client learns of the pause as the answer reaches it (allow it 0.3 s), then
            # no thread starts a call of this source until Retry-After has passed
            quiet_from, quiet_to = refusal["at"] + 0.3, refusal["at"] + retry_after
            inside = [c for c in calls if quiet_from < c["started"] < quiet_to]
            assert inside == [], (refusal, inside)
        assert set(jira_markers(sandbox).values()) == {1}

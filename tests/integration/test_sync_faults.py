"""Under 429 (with Retry-After), 5xx and dropped connections on about 20% of calls, a sync of
2,000 tickets stores every ticket exactly once and writes no note twice (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import jira_markers, request_log, running_sandbox, servicenow_markers

from connector.commands.demo import sandbox_sources
from connector.sandbox.faults import parse_faults
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

FAULTS = "429:rate=0.08,retry_after=0.01;503:rate=0.05;502:rate=0.03;drop:rate=0.04"
COUNT = 1000  # per system


def test_sync_under_faults_stores_everything_once(tmp_path: Path, store_url: str) -> None:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=8, faults=FAULTS) as sandbox:
        info = sandbox.info
        sources = {
            name: s.model_copy(update={"retry_base_seconds": 0.01, "max_attempts": 8})
            for name, s in sandbox_sources(info).items()
        }
        with (
            closing(Store.open(store_url)) as store,
            closing(Worker(Settings(sources=sources), store, name="faulty").open()) as worker,
        ):
            cycles = 0
            while True:  # a cycle whose retries ran out leaves work pending for the next
                cycles += 1
                stats = worker.sync_once()
                if not any(s.failed for s in stats) or cycles == 4:
                    break
            assert store.count_changes() == 2 * COUNT
            now = datetime.now(UTC)
            for source in sources:
                assert store.ledger_pending(source=source, now=now) == []
        statuses = Counter(r["status"] for r in request_log(info))
        assert statuses[429] and statuses[503] and statuses[502]
        # Reading the result back is no part of the sync: no fault for it. (Concurrent writes
        # change how many calls came before it, so the seeded faults no longer miss it.)
        sandbox.state.faults = parse_faults("")
        jira, snow = jira_markers(sandbox), servicenow_markers(sandbox, info)
        assert jira and snow
        assert set(jira.values()) == {1} and set(snow.values()) == {1}

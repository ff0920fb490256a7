"""Crash safety: a worker process killed with SIGKILL at random points during sync and apply,
then restarted, loses nothing and writes nothing twice; so do two workers sharing one
PostgreSQL database. Every worker here is a real `change-connector sync --once` process,
writing tickets side by side (`write_concurrency` 4, the default)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import (
    jira_marker_property,
    jira_markers,
    reset_log,
    running_sandbox,
    servicenow_markers,
    ticket_writes,
    write_config,
)

from connector.store import Store

LEASE = 3.0
TIMEOUT = 3.0  # each call's; a lapsed claim's ticket is written again after twice this
CONCURRENCY = 4


def worker(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--once", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    """Wait for a worker; one still running at the timeout is killed, not left to the next test."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, err.decode()[-2000:]


def test_sigkill_at_random_points_loses_nothing_and_writes_nothing_twice(
    tmp_path: Path, store_url: str
) -> None:
    count = 120
    # Slow answers on a share of calls stretch the run, so kills land inside applies too.
    with running_sandbox(
        tmp_path, seed_count=count, random_seed=9, faults="slow:rate=0.3,delay=0.02"
    ) as sandbox:
        info = sandbox.info
        config = write_config(
            tmp_path / "worker.toml",
            info,
            store_url=store_url,
            lease_seconds=LEASE,
            timeout_seconds=TIMEOUT,
            write_concurrency=CONCURRENCY,
        )
        rng = random.Random(20261122)
        for _ in range(6):
            proc = worker(config)
            time.sleep(rng.uniform(0.3, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        # the claims of the last killed worker lapse, and so does the grace after them
        time.sleep(LEASE + 2 * TIMEOUT + 0.5)
        finish(worker(config))
        with closing(Store.open(store_url)) as store:
            assert store.count_changes() == 2 * count
            assert store.verify_audit() is None
            for source in ("sandbox-jira", "sandbox-servicenow"):
                assert store.ledger_pending(source=source, now=datetime.now(UTC)) == []
        jira, snow = jira_markers(sandbox), servicenow_markers(sandbox, info)
        assert jira and snow
        assert set(jira.values()) == {1} and set(snow.values()) == {1}

        # The database is lost and rebuilt: the markers on the tickets still prevent writes.
        # A kill within a batch of notes leaves the `pending` markers of the notes it posted
        # (their ledger rows were applied; the batch's bulk `done` never came): the worker of
        # the same database leaves them, its ledger knows; the rebuilt one reads those issues'
        # comments, finds each note, and only sets its marker `done`.
        left_pending = {
            key for (key, _), entry in jira_marker_property(sandbox).items()
            if entry.get("state") == "pending"
        }  # fmt: skip
        reset_log(info)
        rebuilt = write_config(
            tmp_path / "rebuilt.toml", info, store_url=Store.default_url(tmp_path / "rebuilt")
        )
        finish(worker(rebuilt))
        settled = {
            f"PUT /jira/rest/api/2/issue/{issue.id}/properties/change-connector"
            for issue in sandbox.jira.store.issues.values()
            if issue.key in left_pending
        }
        assert set(ticket_writes(info)) <= settled
        assert (jira_markers(sandbox), servicenow_markers(sandbox, info)) == (jira, snow)
        assert all(e.get("state") == "done" for e in jira_marker_property(sandbox).values())


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_workers_share_one_postgresql_database(tmp_path: Path, store_url: str) -> None:
    count = 1000  # per system: 2,000 tickets in all
    with running_sandbox(tmp_path, seed_count=count, random_seed=4) as sandbox:
        info = sandbox.info
        config = write_config(
            tmp_path / "worker.toml", info, store_url=store_url, write_concurrency=CONCURRENCY
        )
        first, second = worker(config), worker(config)
        try:
            finish(first)
            finish(second)
        finally:
            for proc in (first, second):
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        finish(worker(config))  # a later cycle: whatever a busy source deferred
        with closing(Store.open(store_url)) as store:
            assert store.count_changes() == 2 * count
            runs = store.last_runs(10)
        assert {r.status for r in runs} == {"ok"}
        jira, snow = jira_markers(sandbox), servicenow_markers(sandbox, info)
        assert jira and snow
        assert set(jira.values()) == {1} and set(snow.values()) == {1}

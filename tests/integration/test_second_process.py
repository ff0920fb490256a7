"""A pass with many changes to evaluate shares its chunks with a second process, which evaluates
and records them on the same store (`sync/second.py`): the store ends as it would with every
change evaluated in the worker, also when that process is lost halfway or never starts; a
second cycle writes nothing. Against the sandbox over HTTPS, on SQLite and PostgreSQL (the
reference store is SQLite)."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import reset_log, running_sandbox, ticket_writes

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store, StoreHandle
from connector.store.audit import AuditKeying
from connector.sync import second
from connector.sync.pipeline import Pipeline
from connector.sync.poller import PollStats

COUNT = 400  # three pages and more of changes with windows, some overlapping
BATCH = 100  # changes evaluated at once: the pass has several batches to send
RANDOM_SEED = 12
REPO = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)  # one clock for every run, so the stored answers compare equal


def sync(box: Sandbox, url: str, *, mode: str, parallel_from: int) -> PollStats:
    base = sandbox_sources(box.info)["sandbox-jira"]
    update = {"mode": mode, "parallel_from": parallel_from, "batch_size": BATCH}
    source = base.model_copy(update=update)
    settings = Settings(sources={"sandbox-jira": source})
    with (
        closing(Store.open(url)) as store,
        closing(Worker(settings, store, name="second-test", clock=lambda: NOW).open()) as worker,
    ):
        [stats] = worker.sync_once()
    assert stats.failed is None, stats.failed
    return stats


def recorded(url: str) -> dict[str, Any]:
    """What a cycle left in the store: each change's stored row and answers, and each ticket's
    audit events in order (without their time and hashes; the tickets' links interleave in
    the order they were recorded, which a pass evaluating every change after the last page
    changes)."""
    with closing(Store.open(url)) as store:
        keys = store.change_keys("sandbox-jira")
        rows = store.stored_changes("sandbox-jira", keys)
        since = datetime.min.replace(tzinfo=UTC)
        answers = {k: a for k, a, _ in store.report_answers("sandbox-jira", updated_since=since)}
        events: dict[str | None, list[tuple[str, Any]]] = {}
        for r in store.audit_rows():
            events.setdefault(r.ticket_key, []).append((r.event, r.detail))
    return {"rows": rows, "answers": answers, "events": events}


@contextmanager
def shared(*, lose_after: int | None = None) -> Iterator[Counter[str]]:
    """The second process takes chunks from the first one (the worker waits for it to start
    instead of doing the first chunks itself); `lose_after`: it is killed once it has recorded
    this many. Yields the count of chunks recorded by where: "there" or "here", and of those
    there, the ones of the scan ("lent": changes without a window, as their batches were
    recorded)."""
    done: Counter[str] = Counter()
    ready, given_share, here_share = second.SecondProcess.ready, second.Given.share, Pipeline.share
    take_lent = second.Lending._take

    def started(self: second.SecondProcess) -> bool:
        self._started.exception(timeout=120)
        return bool(ready.fget(self))  # type: ignore[attr-defined]

    def there(self: second.Given) -> second.Share | None:
        share = given_share(self)
        done["there"] += share is not None
        if lose_after is not None and done["there"] == lose_after:
            for child in multiprocessing.active_children():
                child.kill()
                child.join()
        return share

    def here(self: Pipeline, keys: Sequence[str]) -> second.Share:
        done["here"] += 1
        return here_share(self, keys)

    def lent(self: second.Lending, given: second.Given) -> None:
        there = done["there"]
        take_lent(self, given)
        done["lent"] += done["there"] - there

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(second.SecondProcess, "ready", property(started))
        patch.setattr(second.Given, "share", there)
        patch.setattr(Pipeline, "share", here)
        patch.setattr(second.Lending, "_take", lent)
        yield done


LINK = {"source": "s", "ticket_key": "CHG-1", "event": "ticket.synced", "actor": "a", "detail": {}}


def test_the_handle_opens_the_store_keyed_and_hides_its_secrets(store_url: str) -> None:
    keying = AuditKeying(key=b"audit-key-material")
    with closing(Store.open(store_url)) as store:
        store.use_audit_keying(keying)
        handle = store.handle()
        assert "audit-key-material" not in repr(handle) and "sqlite" not in repr(handle)
        with closing(pickle.loads(pickle.dumps(handle)).open()) as other, other.transaction() as tx:
            tx.append_audit(**LINK)
        assert store.verify_audit() is None  # keyed as this store's links are
        with store.transaction() as tx:
            tx.append_audit(**LINK)
        assert store.verify_audit() is None


@pytest.mark.parametrize("lose_after", [None, 2], ids=["shared", "process-lost"])
def test_a_shared_pass_records_what_the_worker_would(
    tmp_path: Path, store_url: str, lose_after: int | None
) -> None:
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        # observe mode writes nothing to the tickets: both cycles read the same site
        alone = sync(box, reference, mode="observe", parallel_from=0)
        with shared(lose_after=lose_after) as done:
            both = sync(box, store_url, mode="observe", parallel_from=1)
    expected, got = recorded(reference), recorded(store_url)
    chunks = -(-alone.reevaluated // BATCH)  # a batch at a time
    # with a second process, the changes without a window it did not take wait for the pass
    assert chunks > 2 and alone.reevaluated <= both.reevaluated
    # the second process recorded chunks, of the scan too (lost: it stopped there, and the rest
    # were done here)
    assert done["there"] == lose_after if lose_after else done["there"] >= 2
    assert done["lent"] >= (1 if lose_after else 2) and done["here"] >= 1
    assert alone.withheld == both.withheld > 0
    assert got["rows"] == expected["rows"]
    assert got["answers"] == expected["answers"] and None not in got["answers"].values()
    assert got["events"] == expected["events"]


def test_a_second_process_that_cannot_start_leaves_the_pass_to_the_worker(
    tmp_path: Path, store_url: str
) -> None:
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    (tmp_path / "file").write_text("")  # a database under a file: none opens
    unreachable = StoreHandle(url=f"sqlite:///{tmp_path / 'file' / 'x.db'}", keying=AuditKeying())
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        alone = sync(box, reference, mode="observe", parallel_from=0)
        with shared() as done, pytest.MonkeyPatch.context() as patch:
            patch.setattr(Store, "handle", lambda self: unreachable)
            both = sync(box, store_url, mode="observe", parallel_from=1)
    assert done["there"] == 0 and done["here"] == -(-alone.reevaluated // BATCH)
    assert alone.withheld == both.withheld > 0
    assert recorded(store_url)["rows"] == recorded(reference)["rows"]


def test_a_cycle_after_a_shared_one_writes_nothing(tmp_path: Path, store_url: str) -> None:
    with (
        running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box,
        shared() as done,
    ):
        first = sync(box, store_url, mode="enforce", parallel_from=1)
        assert done["there"] > 0 and first.written > 0
        reset_log(box.info)
        again = sync(box, store_url, mode="enforce", parallel_from=1)
        assert ticket_writes(box.info) == []
    assert again.written == 0 and again.planned == 0


def test_a_process_started_ahead_is_taken_by_the_scan_from_its_first_full_batch(
    tmp_path: Path, store_url: str
) -> None:
    """`sync --once` starts one before its own imports: a cycle whose first batch is full of
    changes takes it there (well below `parallel_from`), and the store ends the same."""
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        alone = sync(box, reference, mode="observe", parallel_from=0)
        with second.started_ahead(), shared() as done:
            [ahead] = multiprocessing.active_children()
            assert second.waiting()
            both = sync(box, store_url, mode="observe", parallel_from=COUNT * 10)
            assert not second.waiting() and not ahead.is_alive()  # taken, and closed with the pass
    assert done["lent"] >= 2  # lent from the scan's first batches on
    assert alone.withheld == both.withheld > 0
    assert recorded(store_url)["rows"] == recorded(reference)["rows"]


def test_a_process_started_ahead_that_no_pass_takes_stops_with_the_block(
    tmp_path: Path, store_url: str
) -> None:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        with second.started_ahead():
            [ahead] = multiprocessing.active_children()
            sync(box, store_url, mode="observe", parallel_from=0)  # 0: never shared
            assert second.waiting()
        assert not second.waiting() and not ahead.is_alive()
        with second.started_ahead(when=False):
            assert not second.waiting() and not multiprocessing.active_children()


def test_a_worker_killed_outright_takes_its_second_process_along(tmp_path: Path) -> None:
    """SIGKILL leaves the worker no time to stop it: the second process sees the worker gone
    and exits, instead of waiting for chunks forever with the worker's output open."""
    code = (
        "import multiprocessing, time\n"
        "from connector.sync import second\n"
        "with second.started_ahead():\n"
        "    [child] = multiprocessing.active_children()\n"
        "    print(child.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    assert worker.stdout is not None
    child = int(worker.stdout.readline())
    worker.kill()
    # EOF on the worker's pipes once the second process, which holds them too, has exited
    _out, err = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL, err
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # a zombie until init reaps it: gone from the process table soon
            os.kill(child, 0)
            time.sleep(0.05)

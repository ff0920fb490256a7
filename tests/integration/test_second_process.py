"""A pass with many changes evaluates them in a second process while the worker records them
(`sync/evaluation.py`): the store ends as it would with every change evaluated in the worker,
also when that process is lost halfway; a second cycle writes nothing. Against the sandbox over
HTTPS, on SQLite and PostgreSQL (the reference store is SQLite)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
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
from connector.store import Store
from connector.sync import evaluation
from connector.sync.poller import PollStats

COUNT = 400  # three pages and more of changes with windows, some overlapping
BATCH = 100  # changes evaluated at once: the pass has several batches to send
RANDOM_SEED = 12
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
def judged_apart(*, lose_after: int | None) -> Iterator[Counter[str]]:
    """The second process takes chunks from the first (the worker waits for it to start
    instead of judging the first chunks itself); `lose_after`: it is killed when the worker
    takes the verdicts of this many chunks it was sent. Yields the count of chunks the worker
    recorded by where they were sent: "apart" or "here" (while that process had two)."""
    judged: Counter[str] = Counter()
    ready = evaluation.SecondProcess.ready
    verdicts = evaluation.Batch.verdicts

    def started(self: evaluation.SecondProcess) -> bool:
        self._started.result(timeout=120)
        return bool(ready.fget(self))  # type: ignore[attr-defined]

    def counted(self: evaluation.Batch) -> list[evaluation.Verdict]:
        judged["here" if self.judged is None else "apart"] += 1
        if lose_after is not None and judged["apart"] == lose_after and self.judged:
            for child in multiprocessing.active_children():
                child.kill()
                child.join()
        return verdicts(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation.SecondProcess, "ready", property(started))
        patch.setattr(evaluation.Batch, "verdicts", counted)
        yield judged


@pytest.mark.parametrize("lose_after", [None, 1], ids=["apart", "process-lost"])
def test_a_second_process_records_what_the_worker_would(
    tmp_path: Path, store_url: str, lose_after: int | None
) -> None:
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        # observe mode writes nothing to the tickets: both cycles read the same site
        alone = sync(box, reference, mode="observe", parallel_from=0)
        with judged_apart(lose_after=lose_after) as judged:
            apart = sync(box, store_url, mode="observe", parallel_from=1)
    expected, got = recorded(reference), recorded(store_url)
    assert 0 < alone.reevaluated <= apart.reevaluated  # apart, the pass takes every change
    chunks = -(-apart.reevaluated // BATCH)  # a batch at a time
    # every chunk went through the second process (lost: the rest were judged in the worker)
    assert chunks > 2 and judged["apart"] >= (2 if lose_after else 1)
    assert judged.total() == chunks if not lose_after else judged.total() <= chunks
    assert alone.withheld == apart.withheld > 0
    assert got["rows"] == expected["rows"]
    assert got["answers"] == expected["answers"] and None not in got["answers"].values()
    assert got["events"] == expected["events"]


def test_a_cycle_after_one_evaluated_apart_writes_nothing(tmp_path: Path, store_url: str) -> None:
    with (
        running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box,
        judged_apart(lose_after=None) as judged,
    ):
        first = sync(box, store_url, mode="enforce", parallel_from=1)
        assert judged["apart"] > 0 and first.written > 0
        reset_log(box.info)
        again = sync(box, store_url, mode="enforce", parallel_from=1)
        assert ticket_writes(box.info) == []
    assert again.written == 0 and again.planned == 0

"""The audit chain verified in a child process beside a report's build: the same verdict as
verifying it in the process, for an intact and a tampered chain, on SQLite and PostgreSQL; the
parent's store keeps working afterwards (the child never closes the parent's connections).

The report runs in a process of its own here, as the command line runs it: a process with no
other thread, where the chain is verified in a forked child. (The test session itself runs the
sandboxes' servers in threads, where forking is not safe and the report verifies in a thread.)
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading

from sqlalchemy import Engine, text
from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)

from connector.reports.apart import forks
from connector.reports.context import AuditState
from connector.reports.gather import audit_state
from connector.store import Store

# Verifies beside a thread pool as a report does; prints whether it forked, the verdict, and
# the chain head after one more append through the parent's own store.
REPORT_PROCESS = """
import dataclasses, json, sys
from concurrent.futures import ThreadPoolExecutor
from connector.reports.apart import forks, verify_beside
from connector.store import Store
store = Store.open(sys.argv[1])
forked = forks()
with ThreadPoolExecutor(max_workers=1) as pool:
    verdict = verify_beside(store, None, pool)()
store.append_audit(source="jira", ticket_key="OPS-1", event="e", actor="w", detail={})
head = store.audit_head()
print(json.dumps({"forked": forked, "verdict": dataclasses.asdict(verdict), "head": head.seq}))
"""


def _append(store: Store, n: int) -> None:
    store.append_audit(
        source="jira", ticket_key="OPS-1", event="ticket.synced", actor="worker", detail={"n": n}
    )


def _report_process(url: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", REPORT_PROCESS, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def _as_json(state: AuditState) -> object:
    return json.loads(json.dumps(dataclasses.asdict(state)))


def test_child_verdict_is_the_in_process_one(
    store: Store, store_url: str, raw_engine: Engine
) -> None:
    for n in range(20):
        _append(store, n)
    expected = audit_state(store)
    intact = _report_process(store_url)
    assert intact["forked"] is True  # a process of its own: the child process verified it
    assert intact["verdict"] == _as_json(expected) and expected.intact and expected.links == 20
    assert intact["head"] == 21  # the report process's own store still works after the fork

    with raw_engine.begin() as conn:
        conn.execute(text("UPDATE audit SET actor = 'mallory' WHERE seq = 7"))
    expected = audit_state(store)
    broken = _report_process(store_url)
    assert broken["forked"] is True
    assert broken["verdict"] == _as_json(expected)
    assert not expected.intact and expected.broken_at == 7


def test_a_process_with_other_threads_verifies_in_a_thread() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forks()
    finally:
        stop.set()
        other.join()

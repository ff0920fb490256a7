"""Store: the intake wakes a waiting drain once a delivery is committed, in this process (SQLite
and PostgreSQL) and, on PostgreSQL, in another process through LISTEN/NOTIFY.

The waits are given a timeout far longer than any test runs (the drain timer they stand for), so
"woken" means the delivery did it, never the timer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from store_fixtures import (  # noqa: F401
    database,
    fixture_open_store,
    fixture_store,
    fixture_store_url,
)

from connector.store import Store
from connector.store.inbox import NewDelivery

#: What the drain timer would be: no test waits this long, so a True wait was a wake-up.
TIMER = 60.0


def deliver(store: Store, delivery_id: str) -> list[str]:
    return list(store.inbox_intake([NewDelivery("jira", delivery_id, "OPS-1", "{}")]))


def test_a_committed_delivery_wakes_a_waiting_drain(store: Store) -> None:
    woken: list[bool] = []
    waiting = threading.Thread(target=lambda: woken.append(store.inbox_wait(TIMER)))
    waiting.start()
    assert deliver(store, "d-1") == ["accepted"]
    waiting.join(timeout=60)
    assert woken == [True]
    # the delivery was committed before the wake-up: the woken drain finds it
    [item] = store.inbox_claim("w", limit=5, lease_seconds=30, now=store._now())
    assert item.delivery_id == "d-1"


def test_a_duplicate_rings_nothing_and_a_ring_is_consumed_once(store: Store) -> None:
    assert deliver(store, "d-1") == ["accepted"]
    assert store.inbox_wait(TIMER) is True  # rung before the wait: returns at once
    assert store.inbox_wait(0) is False  # consumed
    assert deliver(store, "d-1") == ["duplicate"]
    assert store.inbox_wait(0) is False  # nothing new was stored
    store.inbox_wake()
    assert store.inbox_wait(TIMER) is True


def test_a_burst_is_one_wake_up(store: Store) -> None:
    for n in range(20):
        deliver(store, f"d-{n}")
    assert store.inbox_wait(TIMER) is True
    assert store.inbox_wait(0) is False
    assert len(store.inbox_claim("w", limit=50, lease_seconds=30, now=store._now())) == 20


def test_another_store_is_woken_through_notify_on_postgresql(tmp_path: Path) -> None:
    """Two engines (as two processes would have): the second one only hears the NOTIFY."""
    with (
        database("postgresql", tmp_path) as url,
        Store.open(url) as intake,
        Store.open(url) as drainer,
    ):
        drainer.inbox_listen()
        assert drainer.inbox_wait(TIMER) is True  # the ring of LISTEN taking effect
        assert deliver(intake, "d-1") == ["accepted"]
        assert drainer.inbox_wait(TIMER) is True
        [item] = drainer.inbox_claim("w2", limit=5, lease_seconds=30, now=drainer._now())
        assert item.delivery_id == "d-1"


CHILD = textwrap.dedent(
    """
    import sys
    from connector.store import Store

    with Store.open(sys.argv[1]) as store:
        store.inbox_listen()
        assert store.inbox_wait(60.0)  # LISTEN has taken effect
        print("ready", flush=True)
        woken = store.inbox_wait(60.0)
        items = store.inbox_claim("child", limit=5, lease_seconds=30, now=store._now())
        print("woken" if woken else "timer", *[i.delivery_id for i in items], flush=True)
    """
)


def test_a_worker_process_is_woken_by_another_process_delivery(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url, Store.open(url) as intake:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            assert deliver(intake, "from-another-process") == ["accepted"]
            out, err = child.communicate(timeout=60)
        finally:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert out.split() == ["woken", "from-another-process"]

"""Store: the webhook inbox (dedupe, leased claims, retries)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.store import INBOX_MAX_ATTEMPTS, InboxItem, Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def add(store: Store, delivery_id: str | None, *, source: str = "jira") -> bool:
    return store.inbox_add(source=source, delivery_id=delivery_id, ticket_key="OPS-1", body="{}")


def test_duplicate_delivery_is_dropped(store: Store) -> None:
    assert add(store, "d-1") is True
    assert add(store, "d-1") is False
    assert add(store, "d-1", source="snow") is True
    assert add(store, None) is True
    assert add(store, None) is True
    assert store.inbox_depth() == 4
    items = store.inbox_claim("w", limit=10, lease_seconds=30, now=T0)
    assert [(i.source, i.delivery_id) for i in items] == [
        ("jira", "d-1"),
        ("snow", "d-1"),
        ("jira", None),
        ("jira", None),
    ]


def test_concurrent_duplicate_adds_keep_one_row(open_store: Callable[[], Store]) -> None:
    stores = [open_store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[bool] = []

    def _add(store: Store) -> None:
        barrier.wait()
        results.append(add(store, "same"))

    threads = [threading.Thread(target=_add, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    assert stores[0].inbox_depth() == 1


def test_claim_returns_aware_items_with_lease(store: Store) -> None:
    add(store, "d-1")
    [item] = store.inbox_claim("w1", limit=5, lease_seconds=30, now=T0)
    assert item.state == "pending"
    assert item.claimed_by == "w1"
    assert item.claimed_until == T0 + timedelta(seconds=30)
    assert item.received_at.utcoffset() == timedelta(0)
    assert item.ticket_key == "OPS-1"
    assert item.body == "{}"


def test_concurrent_claims_never_share_an_item(open_store: Callable[[], Store]) -> None:
    writer = open_store()
    total = 120
    for n in range(total):
        add(writer, f"d-{n}")
    workers = [open_store() for _ in range(3)]
    barrier = threading.Barrier(len(workers))
    claimed: dict[str, list[InboxItem]] = {f"w{n}": [] for n in range(len(workers))}
    errors: list[BaseException] = []

    def _drain(name: str, store: Store) -> None:
        try:
            barrier.wait()
            while batch := store.inbox_claim(name, limit=7, lease_seconds=300, now=T0):
                claimed[name].extend(batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=_drain, args=(name, store))
        for name, store in zip(claimed, workers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = [item.id for batch in claimed.values() for item in batch]
    assert len(ids) == total
    assert len(set(ids)) == total
    for name, items in claimed.items():
        assert all(item.claimed_by == name for item in items)


def test_expired_lease_lets_another_worker_take_over(store: Store) -> None:
    add(store, "d-1")
    [first] = store.inbox_claim("w1", limit=5, lease_seconds=30, now=T0)
    assert store.inbox_claim("w2", limit=5, lease_seconds=30, now=T0 + timedelta(seconds=10)) == []
    [again] = store.inbox_claim("w2", limit=5, lease_seconds=30, now=T0 + timedelta(seconds=31))
    assert again.id == first.id
    assert again.claimed_by == "w2"


def test_done_items_leave_the_queue(store: Store) -> None:
    add(store, "d-1")
    add(store, "d-2")
    items = store.inbox_claim("w1", limit=5, lease_seconds=30, now=T0)
    store.inbox_done([items[0].id])
    store.inbox_done([])
    assert store.inbox_depth() == 1
    later = T0 + timedelta(hours=1)
    assert [i.id for i in store.inbox_claim("w2", limit=5, lease_seconds=30, now=later)] == [
        items[1].id
    ]
    done = store.inbox_get(items[0].id)
    assert done is not None
    assert done.state == "done"
    assert done.processed_at is not None
    assert done.claimed_by is None


def test_failed_item_is_retried_then_fails_for_good(store: Store) -> None:
    add(store, "d-1")
    now = T0
    for attempt in range(1, INBOX_MAX_ATTEMPTS + 1):
        [item] = store.inbox_claim("w1", limit=5, lease_seconds=30, now=now)
        assert item.attempts == attempt - 1
        store.inbox_failed(item.id, error=f"boom {attempt}")
        now += timedelta(seconds=1)
    final = store.inbox_get(item.id)
    assert final is not None
    assert final.state == "failed"
    assert final.attempts == INBOX_MAX_ATTEMPTS
    assert final.error == f"boom {INBOX_MAX_ATTEMPTS}"
    assert store.inbox_depth() == 0
    assert store.inbox_claim("w1", limit=5, lease_seconds=30, now=now + timedelta(days=1)) == []


def test_retry_at_delays_the_next_claim(store: Store) -> None:
    add(store, "d-1")
    [item] = store.inbox_claim("w1", limit=5, lease_seconds=30, now=T0)
    store.inbox_failed(item.id, error="429", retry_at=T0 + timedelta(minutes=5))
    assert store.inbox_claim("w1", limit=5, lease_seconds=30, now=T0 + timedelta(minutes=4)) == []
    assert store.inbox_claim("w1", limit=5, lease_seconds=30, now=T0 + timedelta(minutes=6))


def test_oldest_pending_delivery_is_the_earliest_still_waiting(store: Store) -> None:
    assert store.inbox_oldest_pending() is None
    for minutes, delivery in ((0, "d-1"), (5, "d-2"), (9, "d-3")):
        body = f'{{"n": "{delivery}"}}'
        store.inbox_add(
            source="jira",
            delivery_id=delivery,
            ticket_key="OPS-1",
            body=body,
            now=T0 + timedelta(minutes=minutes),
        )
    assert store.inbox_oldest_pending() == T0
    first, second, _ = store.inbox_claim("w", limit=3, lease_seconds=30, now=T0)
    assert store.inbox_oldest_pending() == T0  # claimed is still waiting to be done
    store.inbox_done([first.id])
    oldest = store.inbox_oldest_pending()
    assert oldest == T0 + timedelta(minutes=5)
    assert oldest is not None and oldest.tzinfo is not None
    store.inbox_failed(second.id, error="re-read failed")  # back to pending: still waiting
    assert store.inbox_oldest_pending() == T0 + timedelta(minutes=5)

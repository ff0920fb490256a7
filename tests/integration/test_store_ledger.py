"""Store: the action ledger's compare-and-set claims."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.store import LedgerEntry, Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KEY = "jira:OPS-1:findings:" + "a" * 64


def claim(
    store: Store,
    worker: str,
    *,
    now: datetime = T0,
    key: str = KEY,
    lease: float = 60,
    ticket: str = "OPS-1",
    grace: float = 0.0,
) -> LedgerEntry | None:
    return store.ledger_claim(
        key,
        source="jira",
        ticket_key=ticket,
        action="comment",
        content_fingerprint="a" * 64,
        worker=worker,
        lease_seconds=lease,
        now=now,
        grace_seconds=grace,
    )


@pytest.mark.parametrize("one_action", [True, False], ids=["one-action", "one-ticket"])
@pytest.mark.parametrize("shared_store", [True, False], ids=["one-engine", "engine-each"])
def test_concurrent_claims_have_exactly_one_winner(
    open_store: Callable[[], Store], shared_store: bool, one_action: bool
) -> None:
    """Claims of one action, or of different actions of one ticket (the fence), at once."""
    count = 8
    first = open_store()
    stores = [first] * count if shared_store else [first, *(open_store() for _ in range(3))] * 2
    barrier = threading.Barrier(count)
    results: dict[str, LedgerEntry | None] = {}
    errors: list[BaseException] = []

    def _claim(name: str, store: Store) -> None:
        try:
            barrier.wait()
            results[name] = claim(store, name, key=KEY if one_action else f"{KEY}:{name}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=_claim, args=(f"w{n}", s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    winners = [name for name, entry in results.items() if entry is not None]
    assert len(winners) == 1
    entry = first.ledger_get(KEY if one_action else f"{KEY}:{winners[0]}")
    assert entry is not None
    assert entry.claimed_by == winners[0]
    assert entry.attempts == 1
    assert entry.state == "claimed"


def test_applied_key_cannot_be_claimed(store: Store) -> None:
    entry = claim(store, "w1")
    assert entry is not None
    assert entry.claimed_until == T0 + timedelta(seconds=60)
    assert entry.created_at == T0
    assert store.ledger_applied(KEY, remote_ref="10042", worker="w1") is True
    assert claim(store, "w2") is None
    assert claim(store, "w1", now=T0 + timedelta(days=1)) is None
    applied = store.ledger_get(KEY)
    assert applied is not None
    assert applied.state == "applied"
    assert applied.remote_ref == "10042"
    assert applied.applied_at is not None
    assert applied.applied_at.utcoffset() == timedelta(0)
    assert store.ledger_applied(KEY, remote_ref="other") is False


def test_live_claim_blocks_others(store: Store) -> None:
    assert claim(store, "w1") is not None
    assert claim(store, "w2", now=T0 + timedelta(seconds=59)) is None
    assert claim(store, "w1", now=T0 + timedelta(seconds=59)) is None


def test_expired_claim_is_taken_over(store: Store) -> None:
    assert claim(store, "w1") is not None
    taken = claim(store, "w2", now=T0 + timedelta(seconds=61))
    assert taken is not None
    assert taken.claimed_by == "w2"
    assert taken.attempts == 2
    assert taken.created_at == T0
    # The first holder lost its lease: it may no longer record an outcome.
    assert store.ledger_applied(KEY, remote_ref="1", worker="w1") is False
    assert store.ledger_applied(KEY, remote_ref="2", worker="w2") is True


def test_failed_action_can_be_claimed_again(store: Store) -> None:
    assert claim(store, "w1") is not None
    assert store.ledger_failed(KEY, error="503 from Jira", worker="w1") is True
    failed = store.ledger_get(KEY)
    assert failed is not None
    assert failed.state == "failed"
    assert failed.error == "503 from Jira"
    retry = claim(store, "w2", now=T0 + timedelta(seconds=1))
    assert retry is not None
    assert retry.attempts == 2
    assert store.ledger_get("unknown") is None


def test_a_dropped_action_is_never_claimed_again(store: Store) -> None:
    assert claim(store, "w1") is not None
    assert store.ledger_dropped(KEY, error="the ticket is deleted", worker="w1") is True
    dropped = store.ledger_get(KEY)
    assert dropped is not None and (dropped.state, dropped.error) == (
        "dropped",
        "the ticket is deleted",
    )
    assert claim(store, "w2", now=T0 + timedelta(seconds=1)) is None
    assert store.ledger_dropped(KEY, error="again", worker="w2") is False  # not claimed


def test_key_length_is_checked(store: Store) -> None:
    with pytest.raises(ValueError):
        claim(store, "w1", key="k" * 201)
    assert claim(store, "w1", key="k" * 200) is not None


def test_a_claim_fences_its_ticket_until_its_lease_and_the_grace_have_passed(
    store: Store,
) -> None:
    # w1 claims a note on OPS-1, then dies with its write possibly in flight
    first = claim(store, "w1", lease=60, grace=30)
    assert first is not None and not first.lapsed
    other = "jira:OPS-1:labels:" + "b" * 64
    for at in (1, 59, 61, 89):  # under the lease, then within the grace after it
        later = T0 + timedelta(seconds=at)
        assert claim(store, "w2", key=other, now=later, grace=30) is None, at
        assert claim(store, "w1", key=other, now=later, grace=30) is None, at  # any holder
        assert claim(store, "w2", now=later, grace=30) is None, at
    # another ticket is not fenced
    elsewhere = claim(store, "w2", key="jira:OPS-2:x", ticket="OPS-2", now=T0, grace=30)
    assert elsewhere is not None and not elsewhere.lapsed
    # no longer pending within the grace either: nobody tries it
    pending = store.ledger_pending(source="jira", now=T0 + timedelta(seconds=89), grace_seconds=30)
    assert KEY not in {e.idempotency_key for e in pending}
    # past lease and grace: the ticket's next claims say the ticket must be read again
    after = T0 + timedelta(seconds=91)
    pending = store.ledger_pending(source="jira", now=after, grace_seconds=30)
    assert KEY in {e.idempotency_key for e in pending}
    fresh = claim(store, "w2", key=other, now=after, grace=30)
    assert fresh is not None and fresh.lapsed
    assert store.ledger_applied(other, remote_ref="x", worker="w2")
    taken = claim(store, "w2", now=after, grace=30)
    assert taken is not None and taken.lapsed and taken.claimed_by == "w2"
    assert store.ledger_applied(KEY, remote_ref="1", worker="w2")
    third = claim(store, "w2", key="jira:OPS-1:three", now=after, grace=30)
    assert third is not None and not third.lapsed  # nothing lapsed left on the ticket


def test_settled_claims_do_not_fence_their_ticket(store: Store) -> None:
    assert claim(store, "w1") is not None
    assert store.ledger_applied(KEY, remote_ref="1", worker="w1")
    failed = "jira:OPS-1:two"
    assert claim(store, "w1", key=failed) is not None
    assert store.ledger_failed(failed, error="503", worker="w1")
    nxt = claim(store, "w2", key="jira:OPS-1:three", now=T0 + timedelta(seconds=1), grace=30)
    assert nxt is not None and not nxt.lapsed

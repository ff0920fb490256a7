"""Store: the action ledger's compare-and-set claims, the versions of a note edited in place
(superseded), and the pending actions of the tickets with a move to make."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
    migrate_to,
)

from connector.store import LedgerEntry, Store, Tx

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


# -- versions of a note edited in place; the tickets with a move to make -------------------------


def plan(store: Store, key: str, **kw: Any) -> bool:
    with store.transaction() as tx:
        return plan_in(tx, key, **kw)


def plan_in(
    tx: Tx,
    key: str,
    *,
    at: int,
    ticket: str = "OPS-1",
    action: str = "findings",
    source: str = "jira",
    version: bool = False,
) -> bool:
    """Plan `key` in `tx`: its content fingerprint is the key padded, its time T0 + `at` s."""
    return tx.plan_action(
        key,
        source=source,
        ticket_key=ticket,
        action=action,
        content_fingerprint=key.ljust(64, "0")[:64],
        payload="{}",
        now=T0 + timedelta(seconds=at),
        version=version,
    )


def take(store: Store, key: str, *, ticket: str = "OPS-1", at: int = 0, lease: float = 60) -> None:
    assert claim(store, "w1", key=key, ticket=ticket, now=T0 + timedelta(seconds=at), lease=lease)


def supersede(store: Store, key: str) -> list[str]:
    with store.transaction() as tx:
        return [
            k for k, _ in tx.supersede(key, source="jira", ticket_key="OPS-1", action="findings")
        ]


def states(store: Store, ticket: str = "OPS-1", source: str = "jira") -> dict[str, str]:
    return {e.idempotency_key: e.state for e in store.ledger_for(source=source, ticket_key=ticket)}


def test_a_newer_version_of_a_note_supersedes_the_versions_not_yet_written(store: Store) -> None:
    for n, key in enumerate(("v-applied", "v-failed", "v-planned", "v-claimed")):
        assert plan(store, key, at=n, version=True)
    take(store, "v-applied")
    assert store.ledger_applied("v-applied", remote_ref="10001", worker="w1")
    take(store, "v-failed", at=1)
    assert store.ledger_failed("v-failed", error="503", worker="w1")
    take(store, "v-claimed", at=2, lease=3600)  # its holder may be writing it now
    # the same ticket's other purposes, another ticket, another source: not versions of it
    assert plan(store, "label", at=4, action="label:x")
    assert plan(store, "other-ticket", at=4, ticket="OPS-2", version=True)
    assert plan(store, "other-source", at=4, source="sn", version=True)

    with store.transaction() as tx:
        assert plan_in(tx, "v-new", at=5, version=True)
        older = tx.supersede("v-new", source="jira", ticket_key="OPS-1", action="findings")
    assert sorted(older) == [
        ("v-failed", "v-failed".ljust(64, "0")),
        ("v-planned", "v-planned".ljust(64, "0")),
    ]
    assert states(store) == {
        "v-applied": "applied",
        "v-failed": "superseded",
        "v-planned": "superseded",
        "v-claimed": "claimed",
        "label": "planned",
        "v-new": "planned",
    }
    superseded = store.ledger_get("v-planned")
    assert superseded is not None and superseded.remote_ref == "v-new"
    assert states(store, "OPS-2") == {"other-ticket": "planned"}
    assert states(store, source="sn") == {"other-source": "planned"}
    # never pending, never claimed, not an open action
    later = T0 + timedelta(days=1)
    pending = {e.idempotency_key for e in store.ledger_pending(source="jira", now=later)}
    assert pending == {"v-claimed", "label", "v-new", "other-ticket"}  # v-claimed: lapsed
    assert {e.idempotency_key for e in store.open_actions("jira")} == {
        "v-claimed",
        "label",
        "v-new",
        "other-ticket",
    }
    assert claim(store, "w2", key="v-planned", now=later) is None
    # planned the same again: nothing changes
    assert not plan(store, "v-new", at=6, version=True)
    assert not plan(store, "v-planned", at=6)  # not as a version: it stays superseded
    latest = store.ledger_latest(source="jira", ticket_keys=["OPS-1"], action="findings")
    assert latest["OPS-1"].idempotency_key == "v-new"


def test_a_superseded_version_planned_again_is_the_newest_again(store: Store) -> None:
    assert plan(store, "v-1", at=0, version=True)
    assert plan(store, "v-2", at=1, version=True)
    assert supersede(store, "v-2") == ["v-1"]
    # the note's content went back to what v-1 says
    assert plan(store, "v-1", at=2, version=True)
    assert supersede(store, "v-1") == ["v-2"]
    again = store.ledger_get("v-1")
    assert again is not None and (again.state, again.remote_ref) == ("planned", None)
    assert again.created_at == T0 + timedelta(seconds=2)
    latest = store.ledger_latest(source="jira", ticket_keys=["OPS-1"], action="findings")
    assert latest["OPS-1"].idempotency_key == "v-1"
    # an applied version is not planned again
    take(store, "v-1", at=3)
    assert store.ledger_applied("v-1", remote_ref="1", worker="w1")
    assert not plan(store, "v-1", at=4, version=True)
    assert states(store) == {"v-2": "superseded", "v-1": "applied"}


def test_superseding_belongs_to_its_transaction(store: Store) -> None:
    assert plan(store, "v-1", at=0, version=True)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        plan_in(tx, "v-2", at=1, version=True)
        assert tx.supersede("v-2", source="jira", ticket_key="OPS-1", action="findings")
        raise RuntimeError("boom")
    assert states(store) == {"v-1": "planned"}


def test_the_executor_records_an_outdated_version_it_claimed_as_superseded(store: Store) -> None:
    take(store, "v-1")
    assert store.ledger_superseded("v-1", newer="v-2", worker="w1")
    entry = store.ledger_get("v-1")
    assert entry is not None and (entry.state, entry.remote_ref) == ("superseded", "v-2")
    assert entry.applied_at is None
    assert claim(store, "w1", key="v-1", now=T0 + timedelta(days=1)) is None
    assert not store.ledger_superseded("v-1", newer="v-3", worker="w1")  # settled already


def test_pending_of_the_tickets_with_a_move_to_make(store: Store) -> None:
    """Every pending action of the tickets with a move still to do (planned, failed under the
    attempts cap, claimed under a lapsed lease), in ledger order; no other ticket's."""
    rows = [  # (key, ticket, purpose), in the order planned
        ("a-note", "A", "findings"),
        ("b-note", "B", "findings"),  # no move
        ("a-move", "A", "transition"),
        ("a-label", "A", "label:x"),
        ("c-move", "C", "transition"),  # failed once: still to do
        ("c-note", "C", "findings"),
        ("d-move", "D", "transition"),  # failed to the cap
        ("d-note", "D", "findings"),
        ("e-move", "E", "transition"),  # applied
        ("e-note", "E", "findings"),
        ("f-move", "F", "transition"),  # claimed, its lease lapsed
        ("f-note", "F", "findings"),
        ("g-move", "G", "transition"),  # claimed under a live lease
        ("g-note", "G", "findings"),
    ]
    for n, (key, ticket, purpose) in enumerate(rows):
        assert plan(store, key, at=n, ticket=ticket, action=purpose)
    assert plan(store, "sn-move", at=20, ticket="A", action="transition", source="sn")
    take(store, "c-move", ticket="C")
    assert store.ledger_failed("c-move", error="503", worker="w1")
    for attempt in range(2):
        take(store, "d-move", ticket="D", at=attempt)
        assert store.ledger_failed("d-move", error="503", worker="w1")
    take(store, "e-move", ticket="E")
    assert store.ledger_applied("e-move", remote_ref="x", worker="w1")
    take(store, "f-move", ticket="F", lease=60)
    take(store, "g-move", ticket="G", lease=7200)
    now = T0 + timedelta(hours=1)

    def pending(tickets_with: tuple[str, ...] = ()) -> list[str]:
        found = store.ledger_pending(
            source="jira", now=now, max_attempts=2, tickets_with=tickets_with
        )
        return [e.idempotency_key for e in found]

    moving = ["a-note", "a-move", "a-label", "c-move", "c-note", "f-move", "f-note"]
    assert pending(tickets_with=("transition",)) == moving
    assert pending(tickets_with=("transition", "label:x")) == moving
    assert pending(tickets_with=("findings",)) == [
        "a-note",
        "b-note",
        "a-move",
        "a-label",
        "c-move",
        "c-note",
        "d-note",
        "e-note",
        "f-move",
        "f-note",
        "g-note",
    ]
    every = pending()
    assert set(moving) < set(every) and "b-note" in every and "g-note" in every
    # paged, as the executor reads it
    first = store.ledger_pending(
        source="jira", now=now, max_attempts=2, limit=3, tickets_with=("transition",)
    )
    last = first[-1]
    rest = store.ledger_pending(
        source="jira",
        now=now,
        max_attempts=2,
        after=(last.created_at, last.idempotency_key),
        tickets_with=("transition",),
    )
    assert [e.idempotency_key for e in first + rest] == moving


def test_migration_0009_downgrades_superseded_to_dropped_and_upgrades_again(
    store_url: str, raw_engine: Engine
) -> None:
    with Store.open(store_url) as store:
        assert plan(store, "v-1", at=0, version=True)
        assert plan(store, "v-2", at=1, version=True)
        assert supersede(store, "v-2") == ["v-1"]
    migrate_to(store_url, "0008", down=True)
    with raw_engine.connect() as conn:
        rows = conn.execute(text("SELECT idempotency_key, state FROM ledger ORDER BY 1")).all()
        assert [tuple(r) for r in rows] == [("v-1", "dropped"), ("v-2", "planned")]
        with pytest.raises(IntegrityError):  # the older CHECK has no such state
            conn.execute(
                text("UPDATE ledger SET state = 'superseded' WHERE idempotency_key = 'v-1'")
            )
    with Store.open(store_url) as store:  # migrated to the head again
        assert plan(store, "v-3", at=2, version=True)
        assert supersede(store, "v-3") == ["v-2"]
        assert states(store) == {"v-1": "dropped", "v-2": "superseded", "v-3": "planned"}

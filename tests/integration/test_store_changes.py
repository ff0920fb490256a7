"""Store: changes, fingerprints, cursors and the atomic write transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def fp(n: int) -> str:
    return f"{n:064x}"


def put(store: Store, key: str, n: int, *, source: str = "jira", updated: datetime = T0) -> None:
    store.upsert_change(
        source=source,
        change_key=key,
        native_id=f"id-{key}",
        fingerprint=fp(n),
        updated=updated,
        data=f'{{"key": "{key}", "n": {n}}}',
    )


def test_upsert_and_fingerprints_round_trip(store: Store) -> None:
    put(store, "OPS-1", 1)
    put(store, "OPS-2", 2)
    put(store, "OPS-1", 3, source="snow")
    assert store.fingerprint("jira", "OPS-1") == fp(1)
    assert store.fingerprint("jira", "OPS-9") is None
    assert store.fingerprints("jira", ["OPS-1", "OPS-2", "OPS-3", "OPS-1"]) == {
        "OPS-1": fp(1),
        "OPS-2": fp(2),
    }
    assert store.fingerprints("jira", []) == {}
    put(store, "OPS-1", 7)
    assert store.fingerprint("jira", "OPS-1") == fp(7)
    assert store.get_change("jira", "OPS-1") == '{"key": "OPS-1", "n": 7}'
    assert store.get_change("snow", "OPS-1") == '{"key": "OPS-1", "n": 3}'
    assert store.get_change("jira", "nope") is None
    assert store.count_changes() == 3
    assert store.count_changes("jira") == 2


def test_fingerprints_for_a_page_larger_than_one_in_list(store: Store) -> None:
    with store.transaction() as tx:
        for n in range(1200):
            tx.upsert_change(
                source="jira",
                change_key=f"K-{n}",
                native_id=str(n),
                fingerprint=fp(n),
                updated=T0,
                data="{}",
            )
    keys = [f"K-{n}" for n in range(0, 1300, 1)]
    found = store.fingerprints("jira", keys)
    assert len(found) == 1200
    assert found["K-1199"] == fp(1199)


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    put(store, "OPS-1", 1, updated=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=plus_two))
    info = store.get_change_info("jira", "OPS-1")
    assert info is not None
    assert info.updated == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    for value in (info.updated, info.first_seen_at, info.synced_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    first_seen = info.first_seen_at
    put(store, "OPS-1", 2)
    again = store.get_change_info("jira", "OPS-1")
    assert again is not None
    assert again.first_seen_at == first_seen
    assert again.synced_at >= info.synced_at
    assert again.fingerprint == fp(2)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        put(store, "OPS-1", 1, updated=datetime(2024, 5, 1, 12, 0))
    assert store.count_changes() == 0


def test_cursor_set_and_replace(store: Store) -> None:
    assert store.cursor("jira") is None
    store.set_cursor("jira", '{"since": "2024-05-01T00:00:00Z"}')
    store.set_cursor("jira", '{"since": "2024-05-02T00:00:00Z"}')
    assert store.cursor("jira") == '{"since": "2024-05-02T00:00:00Z"}'
    assert store.cursor("snow") is None


def test_transaction_commits_everything_together(store: Store) -> None:
    with store.transaction() as tx:
        tx.upsert_change(
            source="jira", change_key="A-1", native_id="1", fingerprint=fp(1), updated=T0, data="{}"
        )
        tx.set_cursor("jira", '"p1"')
        tx.append_audit(source="jira", ticket_key="A-1", event="seen", actor="w1", detail={})
    assert store.cursor("jira") == '"p1"'
    assert store.fingerprint("jira", "A-1") == fp(1)
    assert [row.event for row in store.audit_rows()] == ["seen"]


def test_exception_inside_transaction_writes_nothing(store: Store) -> None:
    store.set_cursor("jira", '"before"')
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        tx.upsert_change(
            source="jira", change_key="A-1", native_id="1", fingerprint=fp(1), updated=T0, data="{}"
        )
        tx.set_cursor("jira", '"after"')
        tx.append_audit(source="jira", ticket_key="A-1", event="seen", actor="w1", detail={})
        raise RuntimeError("boom")
    assert store.cursor("jira") == '"before"'
    assert store.fingerprint("jira", "A-1") is None
    assert store.count_changes() == 0
    assert list(store.audit_rows()) == []


def test_iter_changes_streams_in_key_order(store: Store) -> None:
    for n in range(1, 1101):
        put(store, f"K-{n:05d}", n) if n <= 3 else None
    with store.transaction() as tx:
        for n in range(4, 1101):
            tx.upsert_change(
                source="jira",
                change_key=f"K-{n:05d}",
                native_id=str(n),
                fingerprint=fp(n),
                updated=T0,
                data=str(n),
            )
    put(store, "S-1", 1, source="snow")
    everything = list(store.iter_changes())
    assert len(everything) == 1101
    jira = list(store.iter_changes("jira"))
    assert len(jira) == 1100
    assert jira[3:6] == ["4", "5", "6"]
    assert list(store.iter_changes("snow")) == ['{"key": "S-1", "n": 1}']


def test_abandoned_stream_closes_its_cursor(store: Store) -> None:
    for n in range(3):
        put(store, f"K-{n}", n)
    stream = store.iter_changes()
    assert next(stream)
    stream.close()
    stream = store.iter_changes()
    assert next(stream)
    del stream  # finalized by the garbage collector; warnings are errors in this suite
    assert store.count_changes() == 3


def test_change_keys_of_a_source_in_order_and_since_an_update(store: Store) -> None:
    put(store, "OPS-2", 1, updated=T0 + timedelta(hours=1))
    put(store, "OPS-1", 2, updated=T0)
    put(store, "OPS-3", 3, updated=T0 + timedelta(hours=2))
    put(store, "OPS-0", 4, source="snow")
    assert store.change_keys("jira") == ["OPS-1", "OPS-2", "OPS-3"]
    # At or after the instant, whatever zone it is given in.
    plus_two = timezone(timedelta(hours=2))
    since = (T0 + timedelta(hours=1)).astimezone(plus_two)
    assert store.change_keys("jira", updated_since=since) == ["OPS-2", "OPS-3"]
    assert store.change_keys("nope") == []


def test_a_deleted_ticket_is_recorded_once_and_leaves_the_open_lists(store: Store) -> None:
    put(store, "CHG-1", 1)
    put(store, "CHG-2", 2)
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=2)
    with store.transaction() as tx:
        tx.set_windows(source="jira", change_key="CHG-1", windows=[("db", start, end, True)])
        tx.recheck(source="jira", change_keys=["CHG-1"], at=T0)
        for n, state in enumerate(("note-a", "note-b")):
            tx.plan_action(
                f"k-{n}",
                source="jira",
                ticket_key="CHG-1",
                action=state,
                content_fingerprint=fp(n),
                payload="{}",
            )
    claim = {"source": "jira", "ticket_key": "CHG-1", "worker": "w", "lease_seconds": 60}
    for key in ("k-0", "k-1"):  # one claim on a ticket at a time (the fence)
        assert store.ledger_claim(
            key, action="note", content_fingerprint=fp(0), now=datetime.now(UTC), **claim
        )
        if key == "k-0":
            store.ledger_applied("k-0", remote_ref="10001", worker="w")

    assert store.mark_deleted(source="jira", change_key="CHG-1", reason="404", actor="w")
    assert not store.mark_deleted(source="jira", change_key="CHG-1", reason="404", actor="w")
    assert not store.mark_deleted(source="jira", change_key="CHG-9", reason="404", actor="w")

    assert store.is_deleted("jira", "CHG-1") and not store.is_deleted("jira", "CHG-2")
    assert store.change_keys("jira") == ["CHG-2"]
    assert store.get_change("jira", "CHG-1") is not None  # kept for reports and the trail
    assert store.windows_of("jira", ["CHG-1"]) == []
    assert store.due_for_recheck("jira", now=T0 + timedelta(days=9)) == []
    assert store.ledger_pending(source="jira", now=T0 + timedelta(days=9)) == []
    states = {
        e.idempotency_key: e.state for e in store.ledger_for(source="jira", ticket_key="CHG-1")
    }
    assert states == {"k-0": "applied", "k-1": "dropped"}
    events = [row.event for row in store.audit_for("jira", "CHG-1")]
    assert events.count("ticket.deleted") == 1
    assert store.verify_audit() is None

    put(store, "CHG-1", 5)  # read again: it is back in view
    assert not store.is_deleted("jira", "CHG-1")
    assert store.change_keys("jira") == ["CHG-1", "CHG-2"]

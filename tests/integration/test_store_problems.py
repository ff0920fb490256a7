"""Store: what did not go through, for `status` and `explain`: actions not applied (failed
first, with their reason and attempts) and tickets whose newest read was skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.store import Store

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def plan(store: Store, key: str, *, ticket: str, source: str = "jira") -> None:
    with store.transaction() as tx:
        assert tx.plan_action(
            key,
            source=source,
            ticket_key=ticket,
            action="transition",
            content_fingerprint="f" * 64,
            payload="{}",
            now=T0,
        )


def claim(store: Store, key: str) -> None:
    entry = store.ledger_claim(
        key,
        source="jira",
        ticket_key="x",
        action="transition",
        content_fingerprint="f" * 64,
        worker="w1",
        lease_seconds=60,
        now=T0,
    )
    assert entry is not None


def test_open_actions_lists_failed_then_pending_with_reason_and_attempts(store: Store) -> None:
    for n in range(1, 5):
        plan(store, f"k{n}", ticket=f"OPS-{n}")
    plan(store, "other", ticket="CHG0001", source="servicenow")
    claim(store, "k1")
    assert store.ledger_applied("k1", remote_ref="r", worker="w1")  # done: not listed
    for _ in range(2):
        claim(store, "k3")
        assert store.ledger_failed("k3", error="'Decline' is not available", worker="w1")

    rows = store.open_actions("jira")
    assert [(e.ticket_key, e.state, e.attempts, e.error) for e in rows] == [
        ("OPS-3", "failed", 2, "'Decline' is not available"),
        ("OPS-2", "planned", 0, None),
        ("OPS-4", "planned", 0, None),
    ]
    assert {e.source for e in store.open_actions()} == {"jira", "servicenow"}
    assert len(store.open_actions(limit=1)) == 1


def skip(store: Store, reason: str, *, source: str = "jira") -> None:
    store.append_audit(
        source=source,
        ticket_key=None,
        event="ticket.skipped",
        actor="worker",
        detail={"reason": reason},
    )


def test_skipped_tickets_newest_reason_until_the_ticket_reads_fine(store: Store) -> None:
    skip(store, "OPS-1: fields.risk (customfield_1): 'Huge' is not one of low, high")
    skip(store, "OPS-2: status (status.name): 'Parked' is not mapped")
    skip(store, "OPS-1: fields.risk (customfield_1): 'Giant' is not one of low, high")
    skip(store, "CHG0001: state: 99 is not mapped", source="servicenow")
    skip(store, "no key in this one")

    rows = store.skipped_tickets("jira")
    assert [(s.ticket_key, s.reason) for s in rows] == [
        ("OPS-1", "fields.risk (customfield_1): 'Giant' is not one of low, high"),
        ("OPS-2", "status (status.name): 'Parked' is not mapped"),
    ]
    assert all(s.source == "jira" and s.at.tzinfo is not None for s in rows)

    # OPS-2 reads fine now: no longer skipped; a skip after that read would list it again.
    store.upsert_change(
        source="jira",
        change_key="OPS-2",
        native_id="10002",
        fingerprint="a" * 64,
        updated=T0,
        data="{}",
    )
    assert [s.ticket_key for s in store.skipped_tickets("jira")] == ["OPS-1"]
    skip(store, "OPS-2: status (status.name): 'Parked' is not mapped")
    assert [s.ticket_key for s in store.skipped_tickets("jira")] == ["OPS-2", "OPS-1"]
    assert [s.ticket_key for s in store.skipped_tickets("servicenow")] == ["CHG0001"]

"""The inbox's own limits on SQLite and PostgreSQL: the replay window, the pending cap, the purge
of processed rows after their retention (run by the worker), and the migration that adds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from store_fixtures import (  # noqa: F401
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)

from connector.core.errors import ConfigError
from connector.serve.worker import Worker
from connector.settings import Settings, load_settings
from connector.store import Store
from connector.store.inbox import IntakeLimits, NewDelivery

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = IntakeLimits(replay_window=timedelta(hours=1))


def _delivery(n: int, digest: str = "a" * 64, source: str = "acme") -> NewDelivery:
    return NewDelivery(source, f"d-{n}", "OPS-1", "{}", digest)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM inbox")).scalar_one())


def test_replay_window(store: Store, raw_engine: Engine) -> None:
    assert store.inbox_intake([_delivery(1), _delivery(2)], limits=WINDOW, now=T0) == [
        "accepted",
        "duplicate",  # the same body within one batch
    ]
    later = T0 + timedelta(minutes=59)
    assert store.inbox_intake([_delivery(3)], limits=WINDOW, now=later) == ["duplicate"]
    other = [_delivery(4, "b" * 64), _delivery(5, source="other")]
    assert store.inbox_intake(other, limits=WINDOW, now=later) == ["accepted", "accepted"]
    # once the window has passed, the body is a delivery again (one row per window at most)
    after = T0 + timedelta(hours=1, seconds=1)
    assert store.inbox_intake([_delivery(6)], limits=WINDOW, now=after) == ["accepted"]
    # the delivery id still dedupes on its own, and deliveries without a digest are not matched
    assert store.inbox_intake([_delivery(6, "c" * 64)], limits=WINDOW, now=after) == ["duplicate"]
    plain = NewDelivery("acme", "d-7", "OPS-1", "{}")
    assert store.inbox_intake([plain, plain._replace(delivery_id="d-8")], limits=WINDOW) == [
        "accepted",
        "accepted",
    ]
    assert _count(raw_engine) == 6


def test_pending_cap(store: Store, raw_engine: Engine) -> None:
    cap = IntakeLimits(max_pending=2, recount_seconds=0)
    batch = [_delivery(n, f"{n:064x}") for n in range(1, 5)]
    assert store.inbox_intake(batch, limits=cap, now=T0) == [
        "accepted",
        "accepted",
        "full",
        "full",
    ]
    # a duplicate is still a duplicate when the inbox is full (the sender may stop retrying)
    assert store.inbox_intake([batch[0]], limits=cap, now=T0) == ["duplicate"]
    items = store.inbox_claim("w", limit=1, lease_seconds=30, now=T0)
    store.inbox_failed(items[0].id, error="x")  # back to pending: still counts
    assert store.inbox_intake([batch[2]], limits=cap, now=T0) == ["full"]
    store.inbox_done([items[0].id], now=T0)
    assert store.inbox_intake(batch[2:], limits=cap, now=T0) == ["accepted", "full"]
    assert _count(raw_engine) == 3


def test_pending_count_is_taken_again_after_a_while(store: Store) -> None:
    cap = IntakeLimits(max_pending=1, recount_seconds=3600)
    assert store.inbox_intake([_delivery(1)], limits=cap, now=T0) == ["accepted"]
    store.inbox_done([store.inbox_claim("w", limit=1, lease_seconds=30, now=T0)[0].id], now=T0)
    # within the recount interval the count is an upper bound: still full
    assert store.inbox_intake([_delivery(2, "b" * 64)], limits=cap, now=T0) == ["full"]
    fresh = cap._replace(recount_seconds=0)
    assert store.inbox_intake([_delivery(2, "b" * 64)], limits=fresh, now=T0) == ["accepted"]


def test_purge_keeps_pending_and_recent_rows(store: Store, raw_engine: Engine) -> None:
    store.inbox_intake([_delivery(n, f"{n:064x}") for n in range(1, 5)], now=T0)
    claimed = store.inbox_claim("w", limit=3, lease_seconds=30, now=T0)
    store.inbox_done([claimed[0].id], now=T0)
    store.inbox_done([claimed[1].id], now=T0 + timedelta(hours=2))
    with raw_engine.begin() as conn:  # the last attempt failed for good
        conn.execute(
            text("UPDATE inbox SET state = 'failed' WHERE id = :id"), {"id": claimed[2].id}
        )
    assert store.inbox_purge(older_than=T0 + timedelta(hours=1)) == 2  # done at T0, failed
    remaining = {item.id for item in store.inbox_claim("w2", limit=10, lease_seconds=1, now=T0)}
    assert remaining == {4}  # the pending row stays, whatever its age
    assert _count(raw_engine) == 2  # and the recently processed one


def test_worker_purges_after_the_retention(store: Store, raw_engine: Engine) -> None:
    settings = Settings.model_validate({"worker": {"inbox_retention_hours": 24}})
    store.inbox_intake([_delivery(1), _delivery(2, "b" * 64)], now=T0)
    items = store.inbox_claim("w", limit=2, lease_seconds=30, now=T0)
    store.inbox_done([items[0].id], now=T0)
    store.inbox_done([items[1].id], now=T0 + timedelta(hours=12))
    worker = Worker(settings, store, clock=lambda: T0 + timedelta(hours=25))
    assert worker.purge_once() == 1
    assert _count(raw_engine) == 1


def test_retention_shorter_than_the_replay_window_is_refused(
    tmp_path: pytest.TempPathFactory,
) -> None:
    path = tmp_path / "c.toml"  # type: ignore[operator]
    path.write_text("[server]\nreplay_window_hours = 48\n[worker]\ninbox_retention_hours = 24\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "worker.inbox_retention_hours" in caught.value.message
    assert "\n" not in caught.value.message


def test_migration_adds_the_digest_column(store: Store, raw_engine: Engine) -> None:
    store.inbox_intake([_delivery(1)], now=T0)
    with raw_engine.connect() as conn:
        digest = conn.execute(text("SELECT body_digest FROM inbox")).scalar_one()
    assert digest == "a" * 64

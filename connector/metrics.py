"""Prometheus metrics of one worker process: what it synced, applied, refused and failed.

Counters are incremented where things happen; inbox depth and cursor lag are read from the
store at scrape time, so every worker on a shared database reports the same truth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from connector.errors import ConnectorError
from connector.store import Store


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        self.tickets = Counter(
            "change_connector_tickets_synced",
            "Tickets read and recorded",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.actions = Counter(
            "change_connector_actions",
            "Actions on tickets",
            ["source", "kind", "result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "change_connector_errors",
            "Errors by kind",
            ["source", "kind"],
            registry=self.registry,
        )
        self.webhooks = Counter(
            "change_connector_webhooks",
            "Webhook deliveries by result",
            ["source", "result"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "change_connector_notifications",
            "Chat posts by channel kind and outcome (posted, refused, uncertain)",
            ["channel_kind", "outcome"],
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "change_connector_inbox_depth", "Webhook deliveries waiting", registry=self.registry
        )
        self.cursor_lag = Gauge(
            "change_connector_cursor_lag_seconds",
            "Now minus the source's cursor",
            ["source"],
            registry=self.registry,
        )

    def webhook(self, *, source: str, result: str) -> None:
        self.webhooks.labels(source=source, result=result).inc()

    def notification(self, channel_kind: str, outcome: str) -> None:
        self.notifications.labels(channel_kind=channel_kind, outcome=outcome).inc()

    def render(self, store: Store) -> bytes:
        """The text exposition; the store-read gauges keep their last value (and the scrape
        counts a `store` error) while the store is unreachable, so counters still export."""
        from connector.cursor import Cursor

        try:
            self.inbox_depth.set(store.inbox_depth())
            positions = store.cursors()
        except ConnectorError:
            self.errors.labels(source="store", kind="unavailable").inc()
            positions = {}
        for source, position in positions.items():
            mark = Cursor.loads(position).high_water
            if mark is not None:
                lag = (self.clock() - mark).total_seconds()
                self.cursor_lag.labels(source=source).set(lag)
        return generate_latest(self.registry)

"""Prometheus metrics of one worker process: what it synced, applied, refused and failed.

Counters are incremented where things happen; inbox depth and cursor lag are read from the
store at scrape time, so every worker on a shared database reports the same truth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from connector.core.errors import ConnectorError
from connector.store import Store


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        # path: poll or webhook (the drain); outcome: changed or unchanged since last recorded
        self.tickets = Counter(
            "change_connector_tickets_synced",
            "Tickets read and recorded",
            ["source", "path", "outcome"],
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
        self._drain_and_poll_metrics()

    def _drain_and_poll_metrics(self) -> None:
        # reason: one of connector.core.skips.REASONS (a bounded set, never a message)
        self.skips = Counter(
            "change_connector_tickets_skipped",
            "Tickets not recorded, by reason",
            ["source", "path", "reason"],
            registry=self.registry,
        )
        self.inbox_oldest_age = Gauge(
            "change_connector_inbox_oldest_age_seconds",
            "Age of the oldest webhook delivery waiting (0 when none waits)",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "change_connector_deliveries_drained",
            "Webhook deliveries taken from the inbox, by result",
            ["result"],
            registry=self.registry,
        )
        self.drain_seconds = Histogram(
            "change_connector_drain_seconds",
            "Duration of drain batches that claimed deliveries",
            registry=self.registry,
        )
        self.polls = Counter(
            "change_connector_polls",
            "Poll cycles by result (ok, failed, busy: another worker polled)",
            ["source", "result"],
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "change_connector_poll_seconds",
            "Duration of poll cycles",
            ["source"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )

    def webhook(self, *, source: str, result: str) -> None:
        self.webhooks.labels(source=source, result=result).inc()

    def notification(self, channel_kind: str, outcome: str) -> None:
        self.notifications.labels(channel_kind=channel_kind, outcome=outcome).inc()

    def render(self, store: Store) -> bytes:
        """The text exposition; the store-read gauges keep their last value (and the scrape
        counts a `store` error) while the store is unreachable, so counters still export."""
        from connector.core.cursor import Cursor

        try:
            self.inbox_depth.set(store.inbox_depth())
            oldest = store.inbox_oldest_pending()
            age = 0.0 if oldest is None else (self.clock() - oldest).total_seconds()
            self.inbox_oldest_age.set(max(0.0, age))
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

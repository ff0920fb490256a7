"""Outbound webhooks of the sandbox: delivered late, retried on failure, sometimes twice.

Each simulator builds its body and headers (Jira signs `X-Hub-Signature`, the ServiceNow
business rule signs its own header) and hands them to a `WebhookDispatcher`, which delivers them
from a background thread the way the real services do: failures (connection errors, 5xx, 429)
are retried with backoff up to a bound, and a share of deliveries is sent a second time with the
same identifier and `X-Atlassian-Webhook-Retry` set.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]
    duplicate: bool = False


@dataclass
class DeliveryResult:
    url: str
    status: int | None
    attempts: int
    identifier: str


@dataclass
class WebhookDispatcher:
    ca_bundle: Path | None = None
    duplicate_rate: float = 0.1
    rng: random.Random = field(default_factory=random.Random)
    timeout: float = 5.0
    # False: one attempt per delivery (GitHub does not redeliver a failed one by itself)
    retry: bool = True
    delivered: list[DeliveryResult] = field(default_factory=list)
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _idle: threading.Condition = field(default_factory=threading.Condition)
    _pending: int = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def enqueue(self, delivery: Delivery) -> None:
        with self._idle:
            self._pending += 1
            twice = self.rng.random() < self.duplicate_rate
            if twice:
                self._pending += 1
        self._queue.put(delivery)
        if twice:
            headers = {**delivery.headers, "X-Atlassian-Webhook-Retry": "1"}
            self._queue.put(Delivery(delivery.url, delivery.body, headers, duplicate=True))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery is done (tests use this)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        session = requests.Session()
        while (item := self._queue.get()) is not None:
            try:
                self.delivered.append(self._deliver(session, item))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, session: requests.Session, item: Delivery) -> DeliveryResult:
        # `verify` per request: a session-level one would lose to REQUESTS_CA_BUNDLE.
        verify = str(self.ca_bundle) if self.ca_bundle else True
        identifier = item.headers.get("X-Atlassian-Webhook-Identifier", "")
        status: int | None = None
        attempts = 0
        for delay in (*(_RETRY_DELAYS if self.retry else ()), None):
            attempts += 1
            try:
                status = session.post(
                    item.url,
                    data=item.body,
                    headers=item.headers,
                    timeout=self.timeout,
                    verify=verify,
                ).status_code
            except requests.RequestException:
                status = None
            if status is not None and status < 500 and status != 429:
                break
            if delay is not None:
                time.sleep(delay)
        return DeliveryResult(item.url, status, attempts, identifier)

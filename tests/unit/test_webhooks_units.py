"""Webhook intake without a database: a fake store shows outages, batching and isolation."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connector.core.errors import ConfigError, TransientError
from connector.serve.inbox_writer import InboxWriter
from connector.serve.metrics import Metrics
from connector.serve.webhooks import MAX_ID_LENGTH, _delivery_id, build_app, check_secrets
from connector.settings import Settings, SourceSettings
from connector.store.inbox import NewDelivery

SECRET = "k"
BREAKS = "AB-66"  # a valid key the fake store cannot write


class FakeStore:
    """Just what the intake uses; `down` makes every call an outage."""

    is_sqlite = False  # the gate API beside the intake reads per question: never here

    def __init__(self) -> None:
        self.down = False
        self.rows: dict[tuple[str, str | None], NewDelivery] = {}
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def inbox_intake(self, deliveries: Sequence[NewDelivery], *, limits: Any) -> list[str]:
        self.gate.wait(5)
        if self.down:
            raise TransientError("database unavailable: gone")
        if any(d.ticket_key == BREAKS for d in deliveries):
            raise ValueError("this row breaks the whole transaction")
        self.batches.append(len(deliveries))
        out = []
        for d in deliveries:
            fresh = (d.source, d.delivery_id) not in self.rows
            self.rows.setdefault((d.source, d.delivery_id), d)
            out.append("accepted" if fresh else "duplicate")
        return out

    def inbox_depth(self) -> int:
        if self.down:
            raise TransientError("database unavailable: gone")
        return len(self.rows)

    def cursors(self) -> dict[str, str]:
        return {}


def _settings(secret: str | None = SECRET, **server: Any) -> Settings:
    source = SourceSettings(
        kind="jira",
        url="https://example.invalid",
        username="u",
        token=SecretStr("t"),
        mapping=Path("m.toml"),
        webhook_secret=None if secret is None else SecretStr(secret),
    )
    return Settings.model_validate({"sources": {"acme": source}, "server": server})


def _post(client: httpx.AsyncClient, key: str, delivery: str) -> Awaitable[httpx.Response]:
    body = json.dumps({"issue": {"key": key}}).encode()
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature": f"sha256={mac}", "X-Atlassian-Webhook-Identifier": delivery}
    return client.post("/webhooks/jira/acme", content=body, headers=headers)


def _run(app: Any, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """Run `scenario` against the ASGI app in-process, then stop its inbox writer."""

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            await scenario(client)

    try:
        asyncio.run(main())
    finally:
        app.writer.close()


def test_missing_secret_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        check_secrets(_settings(None))
    assert caught.value.message.startswith("sources.acme.webhook_secret: not set")
    assert "\n" not in caught.value.message
    check_secrets(_settings(None, insecure_unsigned_webhooks=True))


def test_store_outage_is_503_with_retry_after_and_nothing_else_breaks() -> None:
    store = FakeStore()
    app = build_app(_settings(), store, Metrics())  # type: ignore[arg-type]

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await _post(client, "OPS-1", "d-1")).status_code == 202
        store.down = True
        refused = await _post(client, "OPS-2", "d-2")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        scrape = await client.get("/metrics")  # counters still export while the store is down
        assert scrape.status_code == 200
        assert 'change_connector_webhooks_total{result="503",source="acme"} 1.0' in scrape.text
        store.down = False
        assert (await _post(client, "OPS-2", "d-2")).json() == {"status": "accepted"}

    _run(app, scenario)
    assert set(store.rows) == {("acme", "d-1"), ("acme", "d-2")}


def test_one_bad_delivery_does_not_refuse_its_batch() -> None:
    store = FakeStore()
    store.gate.clear()  # hold the writer so that the deliveries queue into one batch
    app = build_app(_settings(), store, Metrics())  # type: ignore[arg-type]
    keys = ("AB-1", BREAKS, "AB-2", "AB-3")
    statuses: list[int] = []

    async def scenario(client: httpx.AsyncClient) -> None:
        sent = [asyncio.ensure_future(_post(client, k, f"id-{k}")) for k in keys]
        await asyncio.sleep(0.05)
        store.gate.set()
        statuses.extend(r.status_code for r in await asyncio.gather(*sent))

    _run(app, scenario)
    assert statuses == [202, 500, 202, 202]
    assert {d.ticket_key for d in store.rows.values()} == {"AB-1", "AB-2", "AB-3"}


def test_writer_batches_what_queued_while_it_was_busy() -> None:
    store = FakeStore()
    store.gate.clear()
    writer = InboxWriter(store)  # type: ignore[arg-type]

    async def many() -> list[str]:
        adds = [writer.add(NewDelivery("s", f"d-{i % 5}", "K", "{}")) for i in range(10)]
        tasks = [asyncio.ensure_future(a) for a in adds]
        await asyncio.sleep(0.05)
        store.gate.set()
        return list(await asyncio.gather(*tasks))

    fresh = asyncio.run(many())
    writer.close()
    assert fresh == ["accepted"] * 5 + ["duplicate"] * 5
    assert sum(store.batches) == 10 and len(store.batches) <= 3


def test_delivery_id_fits_the_column() -> None:
    long_id = "x" * 500
    made = _delivery_id("jira", {"x-atlassian-webhook-identifier": long_id}, b"{}")
    assert len(made) <= MAX_ID_LENGTH
    assert made == _delivery_id("jira", {"x-atlassian-webhook-identifier": long_id}, b"[]")
    assert _delivery_id("jira", {}, b"{}") != _delivery_id("jira", {}, b"[]")
    assert _delivery_id("servicenow", {"x-servicenow-event-id": "e1"}, b"{}") == "e1"

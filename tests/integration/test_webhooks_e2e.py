"""End to end: sandbox edits -> its signed webhooks -> the intake over HTTP -> inbox -> drain.

The sandbox posts its Jira and ServiceNow webhooks to the running intake app and delivers half
of them twice. People edit tickets through the REST APIs; the drain then re-reads each edited
ticket once, stores it, and marks every inbox row done; repeats were dropped at the door.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import Engine, text
from store_fixtures import (  # noqa: F401
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)
from test_webhooks import Running, bind_free, serve_app, stop

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

JIRA = "sandbox-jira"
SNOW = "sandbox-servicenow"


@pytest.fixture(name="wired")
def fixture_wired(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sandbox, Settings, Running, Metrics]]:
    sock = bind_free()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks"
    sandbox = Sandbox(
        SandboxOptions(
            data_dir=tmp_path_factory.mktemp("sandbox-e2e"),
            seed_count=12,
            jira_webhook_url=f"{base}/jira/{JIRA}",
            servicenow_webhook_url=f"{base}/servicenow/{SNOW}",
            webhook_secret="e2e-webhook-secret",
            webhook_duplicate_rate=0.5,
        )
    )
    info = sandbox.start()
    try:
        secret = SecretStr(info.webhook_secret)
        sources = {
            name: s.model_copy(update={"webhook_secret": secret})
            for name, s in sandbox_sources(info).items()
        }
        settings = Settings(sources=sources)
        metrics = Metrics()
        running = serve_app(build_app(settings, store, metrics), sock)
        try:
            yield sandbox, settings, running, metrics
        finally:
            stop(running)
    finally:
        sandbox.stop()


def _jira(info: SandboxInfo, method: str, path: str, **kw: Any) -> requests.Response:
    response = requests.request(
        method,
        f"{info.jira_url}/rest/api/2{path}",
        auth=info.credentials("alice"),
        verify=info.ca_bundle,
        timeout=10,
        **kw,
    )
    response.raise_for_status()
    return response


def _snow(info: SandboxInfo, method: str, path: str, **kw: Any) -> requests.Response:
    response = requests.request(
        method,
        f"{info.servicenow_url}/api/now/table/change_request{path}",
        auth=info.credentials("alice", "servicenow"),
        verify=info.ca_bundle,
        headers={"Accept": "application/json"},
        timeout=10,
        **kw,
    )
    response.raise_for_status()
    return response


def _states(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(str(r[0]) for r in conn.execute(text("SELECT state FROM inbox")))


def _per_ticket(engine: Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        query = "SELECT source, ticket_key, count(*) FROM inbox GROUP BY source, ticket_key"
        return {(str(s), str(k)): int(n) for s, k, n in conn.execute(text(query))}


def test_sandbox_webhooks_drain_each_ticket_once(
    wired: tuple[Sandbox, Settings, Running, Metrics], store: Store, raw_engine: Engine
) -> None:
    sandbox, settings, _, metrics = wired
    info = sandbox.info
    jira_keys = sorted(issue.key for issue in sandbox.jira.store.issues.values())[:2]
    for key in jira_keys:
        _jira(info, "PUT", f"/issue/{key}", json={"fields": {"summary": f"{key} edited"}})
    records = _snow(info, "GET", "", params={"sysparm_limit": "2"}).json()["result"]
    numbers = []
    for record in records:
        _snow(info, "PATCH", f"/{record['sys_id']}", json={"short_description": "edited"})
        numbers.append(record["number"])
    assert sandbox.webhooks.wait_idle(30)

    delivered = list(sandbox.webhooks.delivered)
    assert {d.status for d in delivered} == {202}
    accepted = metrics.webhooks.labels(source=JIRA, result="accepted")._value.get()
    accepted += metrics.webhooks.labels(source=SNOW, result="accepted")._value.get()
    duplicates = metrics.webhooks.labels(source=JIRA, result="duplicate")._value.get()
    duplicates += metrics.webhooks.labels(source=SNOW, result="duplicate")._value.get()
    assert duplicates >= 1  # half the deliveries are repeated (seeded, so this is stable)
    assert accepted + duplicates == len(delivered)
    assert _states(raw_engine) == {"pending": accepted}
    tickets = {(JIRA, k) for k in jira_keys} | {(SNOW, n) for n in numbers}
    assert set(_per_ticket(raw_engine)) == tickets  # one edit, one event, one row per ticket

    with closing(Worker(settings, store, name="e2e").open()) as worker:
        stats = worker.drain_once()
        assert (stats.claimed, stats.tickets, stats.failed) == (accepted, len(tickets), 0)
        assert stats.changed == len(tickets)  # each edited ticket processed exactly once
        states = _states(raw_engine)
        assert states["done"] == accepted
        # Anything pending now is the echo of the worker's own writes (notes, moves), which
        # the sandbox sends as webhooks too, for the same tickets.
        assert set(_per_ticket(raw_engine)) == tickets
        for source, key in tickets:
            info_row = store.get_change_info(source, key)
            assert info_row is not None, (source, key)
        assert store.count_changes() == len(tickets)  # nothing but the edited tickets

        # Whatever the worker wrote back comes in as webhooks too; draining those (if any)
        # changes and writes nothing more.
        assert sandbox.webhooks.wait_idle(30)
        echo = worker.drain_once()
        assert (echo.failed, echo.changed, echo.written) == (0, 0, 0)
        assert store.count_changes() == len(tickets)
        assert store.inbox_depth() == 0


def test_a_deleted_ticket_is_recorded_once_and_its_delivery_is_not_retried(
    wired: tuple[Sandbox, Settings, Running, Metrics], store: Store, raw_engine: Engine
) -> None:
    sandbox, settings, _, _ = wired
    info = sandbox.info
    key = sorted(issue.key for issue in sandbox.jira.store.issues.values())[0]
    record = _snow(info, "GET", "", params={"sysparm_limit": "1"}).json()["result"][0]
    number = record["number"]
    _jira(info, "PUT", f"/issue/{key}", json={"fields": {"summary": f"{key} edited"}})
    _snow(info, "PATCH", f"/{record['sys_id']}", json={"short_description": "edited"})
    assert sandbox.webhooks.wait_idle(30)
    with closing(Worker(settings, store, name="e2e").open()) as worker:
        worker.drain_once()
        assert sandbox.webhooks.wait_idle(30)
        worker.drain_once()
        assert store.get_change_info(JIRA, key) is not None
        assert store.get_change_info(SNOW, number) is not None

        # An admin deletes both: Jira sends jira:issue_deleted; ServiceNow has no standard
        # outbound event, so a customer's business rule posts the record's number.
        sandbox.delete_jira_issue(key)
        sandbox.servicenow.delete_change(number)
        assert sandbox.webhooks.wait_idle(30)
        with raw_engine.connect() as conn:
            query = text("SELECT body FROM inbox WHERE state = 'pending' AND ticket_key = :k")
            bodies = [str(b) for b in conn.execute(query, {"k": key}).scalars()]
        assert any('"jira:issue_deleted"' in body for body in bodies)
        store.inbox_add(source=SNOW, delivery_id="br-1", ticket_key=number, body="{}")

        stats = worker.drain_once()
        assert (stats.deleted, stats.failed) == (2, 0)
        assert store.inbox_depth() == 0  # done, not waiting for a retry
        for source, ticket in ((JIRA, key), (SNOW, number)):
            assert store.is_deleted(source, ticket)
            assert ticket not in store.change_keys(source)
            events = [row.event for row in store.audit_for(source, ticket)]
            assert events.count("ticket.deleted") == 1

        # The sender repeats the delete event: recorded already, nothing more happens.
        store.inbox_add(source=JIRA, delivery_id="again", ticket_key=key, body="{}")
        again = worker.drain_once()
        assert (again.deleted, again.failed, again.claimed) == (0, 0, 1)
        assert [row.event for row in store.audit_for(JIRA, key)].count("ticket.deleted") == 1
        assert _states(raw_engine)["pending"] == 0

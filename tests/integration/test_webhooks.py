"""Webhook intake over real HTTP (uvicorn on a free port) on SQLite and PostgreSQL.

Each refusal must store nothing; each valid delivery exactly one inbox row, however often it is
delivered. Jira signs `X-Hub-Signature: sha256=<hex>`, the ServiceNow rule base64 in its header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine, text
from store_fixtures import (  # noqa: F401
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)

from connector.core.errors import ConfigError
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app, server_options
from connector.settings import ServerSettings, Settings, SourceSettings
from connector.store import Store

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"
SECRET = "s3cret-for-tests"
LIMIT = 32_768  # over the real Jira body of the reference test
SNOW_HEADER = "X-Acme-Signature"


def source(kind: str, secret: str | None = SECRET, **extra: Any) -> SourceSettings:
    return SourceSettings(
        kind=kind,  # type: ignore[arg-type]
        url="https://example.invalid",
        username="connector",
        token=SecretStr("t"),
        mapping=Path("unused.toml"),
        webhook_secret=None if secret is None else SecretStr(secret),
        **extra,
    )


def settings() -> Settings:
    return Settings(
        server=ServerSettings(max_body_bytes=LIMIT),
        sources={
            "acme-jira": source("jira"),
            "acme-snow": source("servicenow", webhook_signature_header=SNOW_HEADER),
            "std-snow": source("servicenow"),
        },
    )


@dataclass
class Running:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve_app(app: Any, sock: socket.socket | None = None) -> Running:
    """Run an ASGI app under uvicorn in a thread (on `sock`, or a free port)."""
    if sock is None:
        sock = bind_free()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, **server_options())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return Running(f"http://127.0.0.1:{port}", server, thread)


def stop(running: Running) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=15)
    assert not running.thread.is_alive()


def bind_free() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(name="intake")
def fixture_intake(store: Store) -> Iterator[Running]:
    running = serve_app(build_app(settings(), store, Metrics()))
    yield running
    stop(running)


def rows(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        query = "SELECT source, delivery_id, ticket_key, state FROM inbox ORDER BY id"
        return [tuple(r) for r in conn.execute(text(query))]  # type: ignore[misc]


# -- deliveries -------------------------------------------------------------------------------


def jira_body(key: str | None = "OPS-7") -> bytes:
    issue: dict[str, Any] = {"id": "10007", "fields": {"summary": "Rotate keys"}}
    if key is not None:
        issue["key"] = key
    return json.dumps({"webhookEvent": "jira:issue_updated", "issue": issue}).encode()


def snow_body(number: str | None = "CHG0030007") -> bytes:
    payload: dict[str, Any] = {"event": "change_request.updated", "table": "change_request"}
    if number is not None:
        payload |= {"number": number, "sys_id": "a" * 32}
    return json.dumps(payload, separators=(",", ":")).encode()


def signed(system: str, body: bytes, delivery: str = "d-1", secret: str = SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256)
    if system == "jira":
        return {
            "X-Hub-Signature": f"sha256={mac.hexdigest()}",
            "X-Atlassian-Webhook-Identifier": delivery,
            "Content-Type": "application/json",
        }
    return {
        SNOW_HEADER: base64.b64encode(mac.digest()).decode(),
        "X-ServiceNow-Event-Id": delivery,
        "Content-Type": "application/json",
    }


CASES = {
    # system -> (path, valid body, body without a key, the key)
    "jira": ("/webhooks/jira/acme-jira", jira_body(), jira_body(None), "OPS-7"),
    "servicenow": ("/webhooks/servicenow/acme-snow", snow_body(), snow_body(None), "CHG0030007"),
}


def post(intake: Running, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
    return requests.post(intake.url + path, data=body, headers=headers, timeout=10)


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("system", CASES)
def test_valid_delivery_is_stored_once(intake: Running, raw_engine: Engine, system: str) -> None:
    path, body, _, key = CASES[system]
    first = post(intake, path, body, signed(system, body, "delivery-1"))
    assert (first.status_code, first.json()) == (202, {"status": "accepted"})
    again = post(intake, path, body, signed(system, body, "delivery-1"))
    assert (again.status_code, again.json()) == (202, {"status": "duplicate"})
    source = path.rsplit("/", 1)[1]
    assert rows(raw_engine) == [(source, "delivery-1", key, "pending")]


@pytest.mark.reference
@pytest.mark.skipif(not REFERENCE.exists(), reason="needs ../shared/reference")
def test_real_jira_body_is_accepted(intake: Running, raw_engine: Engine, store: Store) -> None:
    body = (REFERENCE / "jira-webhooks" / "issue_updated__status.json").read_bytes()
    key = json.loads(body)["issue"]["key"]
    headers = signed("jira", body, "2f1c5c5e-0a59-4d4e-9c3e-3f0e6b4a1d11")
    assert post(intake, "/webhooks/jira/acme-jira", body, headers).status_code == 202
    assert post(intake, "/webhooks/jira/acme-jira", body, headers).json()["status"] == "duplicate"
    assert [r[2] for r in rows(raw_engine)] == [key]
    item = store.inbox_claim("t", limit=5, lease_seconds=30, now=_now())[0]
    assert item.body.encode() == body  # stored byte for byte as received


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.mark.parametrize("system", CASES)
def test_refusals_store_nothing(intake: Running, raw_engine: Engine, system: str) -> None:
    path, body, keyless, _ = CASES[system]
    good = signed(system, body)
    bad = signed(system, body, secret="wrong")
    unsigned = {k: v for k, v in good.items() if k not in ("X-Hub-Signature", SNOW_HEADER)}
    malformed = b'{"issue": {"key": "OPS-1"'
    tampered = body.replace(b"7", b"8")
    big = b'{"pad": "' + b"x" * (LIMIT + 10) + b'"}'

    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 1024 + 8):
            yield b"x" * 1024

    outcomes = {
        "bad signature": post(intake, path, body, bad).status_code,
        "tampered body": post(intake, path, tampered, good).status_code,
        "missing signature": post(intake, path, body, unsigned).status_code,
        "malformed json": post(intake, path, malformed, signed(system, malformed)).status_code,
        "not an object": post(intake, path, b"[1]", signed(system, b"[1]")).status_code,
        "not utf-8": post(
            intake,
            path,
            body.decode().encode("utf-16"),
            signed(system, body.decode().encode("utf-16")),
        ).status_code,
        "no ticket key": post(intake, path, keyless, signed(system, keyless)).status_code,
        "unknown source": post(intake, path + "-nope", body, good).status_code,
        "other system's source": post(
            intake,
            path.replace(system, "jira" if system == "servicenow" else "servicenow"),
            body,
            good,
        ).status_code,
        "too large": post(intake, path, big, signed(system, big)).status_code,
        "too large, chunked": post(intake, path, chunks(), good).status_code,
    }
    assert outcomes == {
        "bad signature": 401,
        "tampered body": 401,
        "missing signature": 401,
        "malformed json": 400,
        "not an object": 400,
        "not utf-8": 400,
        "no ticket key": 400,
        "unknown source": 401,
        "other system's source": 401,
        "too large": 413,
        "too large, chunked": 413,
    }
    assert rows(raw_engine) == []
    # The connection pool and the app are still fine afterwards.
    assert post(intake, path, body, good).status_code == 202
    assert len(rows(raw_engine)) == 1


def test_servicenow_default_header_and_wrong_method(intake: Running, raw_engine: Engine) -> None:
    body = snow_body()
    mac = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    path = "/webhooks/servicenow/std-snow"
    assert post(intake, path, body, {"X-ServiceNow-Signature": mac}).status_code == 202
    # Without an event id, an identical body is the same delivery.
    again = post(intake, path, body, {"X-ServiceNow-Signature": mac})
    assert again.json() == {"status": "duplicate"}
    assert requests.get(intake.url + path, timeout=10).status_code == 405
    assert requests.post(intake.url + "/webhooks/gitlab/x", timeout=10).status_code == 404
    assert len(rows(raw_engine)) == 1


def test_chunked_delivery_within_the_limit_is_accepted(intake: Running, raw_engine: Engine) -> None:
    body = jira_body("OPS-99")
    headers = signed("jira", body, "chunked-1")

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 10):
            yield body[i : i + 10]

    response = post(intake, "/webhooks/jira/acme-jira", chunks(), headers)
    assert response.status_code == 202
    assert rows(raw_engine) == [("acme-jira", "chunked-1", "OPS-99", "pending")]


def test_concurrent_deliveries_each_stored_once(intake: Running, raw_engine: Engine) -> None:
    path = "/webhooks/jira/acme-jira"
    statuses: list[str] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        with requests.Session() as session:
            for i in range(20):
                body = jira_body(f"OPS-{i + 1}")
                headers = signed("jira", body, f"d-{i}")  # every thread sends the same 20
                r = session.post(intake.url + path, data=body, headers=headers, timeout=10)
                with lock:
                    statuses.append(r.json()["status"])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count("accepted") == 20
    assert statuses.count("duplicate") == 60
    assert len(rows(raw_engine)) == 20


def test_healthz_and_metrics(intake: Running) -> None:
    body = jira_body()
    post(intake, "/webhooks/jira/acme-jira", body, signed("jira", body))
    post(intake, "/webhooks/jira/acme-jira", body, signed("jira", body))
    post(intake, "/webhooks/jira/acme-jira", body, signed("jira", body, secret="x"))
    post(intake, "/webhooks/jira/made-up-source", body, signed("jira", body))
    health = requests.get(intake.url + "/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok", "inbox_depth": 1})
    metrics = requests.get(intake.url + "/metrics", timeout=10)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = set(metrics.text.splitlines())
    for line in (
        'change_connector_webhooks_total{result="accepted",source="acme-jira"} 1.0',
        'change_connector_webhooks_total{result="duplicate",source="acme-jira"} 1.0',
        'change_connector_webhooks_total{result="401",source="acme-jira"} 1.0',
        'change_connector_webhooks_total{result="401",source="unknown"} 1.0',
        "change_connector_inbox_depth 1.0",
    ):
        assert line in lines
    assert "made-up-source" not in metrics.text


def test_start_without_a_secret_is_a_config_error(store: Store) -> None:
    unsigned = Settings(
        sources={"acme-jira": source("jira"), "ops-snow": source("servicenow", None)}
    )
    with pytest.raises(ConfigError) as caught:
        build_app(unsigned, store, Metrics())
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("sources.ops-snow.webhook_secret: not set")
    insecure = Settings(
        server=ServerSettings(insecure_unsigned_webhooks=True), sources=unsigned.sources
    )
    running = serve_app(build_app(insecure, store, Metrics()))
    try:
        body = snow_body()
        response = post(running, "/webhooks/servicenow/ops-snow", body, {})
        assert response.status_code == 202
    finally:
        stop(running)

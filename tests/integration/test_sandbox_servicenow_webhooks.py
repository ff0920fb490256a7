"""The ServiceNow simulator's business-rule webhook: a PATCH delivers a signed hint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from connector.sandbox import Sandbox, SandboxOptions
from connector.sandbox.catalog import sys_id_for

SECRET = "sn-hook-secret"


class Receiver(ThreadingHTTPServer):
    """A tiny local webhook endpoint that keeps what it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/servicenow-hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sandbox(tmp_path: Path, receiver: Receiver) -> Iterator[Sandbox]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("REQUESTS_CA_BUNDLE", raising=False)  # it would override `verify`
        env.delenv("CURL_CA_BUNDLE", raising=False)
        box = Sandbox(
            SandboxOptions(
                data_dir=tmp_path,
                seed_count=20,
                servicenow_webhook_url=receiver.url,
                webhook_secret=SECRET,
                webhook_duplicate_rate=0.0,
            )
        )
        box.start()
        try:
            yield box
        finally:
            box.stop()


def test_patch_delivers_a_signed_webhook(sandbox: Sandbox, receiver: Receiver) -> None:
    info = sandbox.info
    sys_id = sys_id_for("change_request:CHG0030003")
    url = f"{info.servicenow_url}/api/now/table/change_request/{sys_id}"
    with requests.Session() as http:
        http.auth = info.credentials("connector", "servicenow")
        http.verify = info.ca_bundle
        record = http.patch(url, json={"work_notes": "checked", "risk": "2"}).json()["result"]
        # A write that changes nothing is no write: no business rule runs, no webhook.
        http.patch(url, json={"risk": "2"})
    assert sandbox.webhooks.wait_idle(10)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    assert hmac.compare_digest(headers["X-ServiceNow-Signature"].encode(), expected)
    assert len(headers["X-ServiceNow-Event-Id"]) == 32
    event = json.loads(body)
    assert event == {
        "event": "change_request.updated",
        "table": "change_request",
        "sys_id": sys_id,
        "number": "CHG0030003",
        "sys_updated_on": record["sys_updated_on"],
        "sys_updated_by": "connector",
        "sys_mod_count": record["sys_mod_count"],
        "changed_fields": ["work_notes", "risk"],
    }


def test_insert_delivers_an_inserted_event(sandbox: Sandbox, receiver: Receiver) -> None:
    info = sandbox.info
    with requests.Session() as http:
        http.auth = info.credentials("alice", "servicenow")
        http.verify = info.ca_bundle
        created = http.post(
            f"{info.servicenow_url}/api/now/table/change_request",
            json={"short_description": "New change"},
        )
    assert created.status_code == 201
    assert sandbox.webhooks.wait_idle(10)
    event = json.loads(receiver.received[0][1])
    assert event["event"] == "change_request.inserted"
    assert event["number"] == created.json()["result"]["number"] == "CHG0030021"
    assert "short_description" in event["changed_fields"]

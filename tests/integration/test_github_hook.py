"""`POST /webhooks/github` over HTTP: the signature first (401 for a missing, a wrong or a
SHA-1-only one, before the body is looked at), then 400 for a body that is not a JSON object,
200 for `ping`, 202 for the events the gate handles (handed to it off the request path) and for
the others (ignored)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any, cast

import requests
from test_webhooks import serve_app, stop

from connector.serve.github_hook import GitHubHook
from connector.sync.github_gate import GitHubGate

SECRET = "github-hook-secret-0123456789"


class RecordingGate:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.done = threading.Event()

    def on_protection_rule(self, payload: dict[str, Any]) -> Any:
        self.seen.append(("rule", payload))
        self.done.set()
        return type("D", (), {"summary": lambda self: "allow"})()

    def on_deployment_status(self, payload: dict[str, Any]) -> None:
        self.seen.append(("status", payload))
        self.done.set()


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/webhooks/github", data=body, headers=headers, timeout=10)


def test_the_signature_is_checked_first_and_events_reach_the_gate() -> None:
    gate = RecordingGate()
    hook = GitHubHook(cast(GitHubGate, gate), secret=SECRET, max_body_bytes=1 << 20)
    running = serve_app(hook)
    try:
        url = running.url
        body = json.dumps({"action": "requested", "environment": "production"}).encode()
        event = {"X-GitHub-Event": "deployment_protection_rule", "X-GitHub-Delivery": "d-1"}
        sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        assert post(url, body, event).status_code == 401
        assert post(url, body, {**event, "X-Hub-Signature": sha1}).status_code == 401
        wrong = {**event, "X-Hub-Signature-256": signed(body, "another-secret-0123456789")}
        assert post(url, body, wrong).status_code == 401
        assert (
            post(
                url, b"not json", {**event, "X-Hub-Signature-256": signed(b"not json")}
            ).status_code
            == 400
        )
        assert (
            post(url, b"[1]", {**event, "X-Hub-Signature-256": signed(b"[1]")}).status_code == 400
        )
        assert gate.seen == []
        ping = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": signed(b"{}")}
        assert post(url, b"{}", ping).status_code == 200
        other = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signed(body)}
        assert post(url, body, other).json() == {"status": "ignored"}
        answer = post(url, body, {**event, "X-Hub-Signature-256": signed(body)})
        assert answer.status_code == 202
        assert gate.done.wait(10)
        assert gate.seen == [("rule", json.loads(body))]
        assert requests.get(f"{url}/webhooks/github", timeout=10).status_code == 405
    finally:
        stop(running)
        hook.close()


def test_a_blank_secret_verifies_nothing() -> None:
    gate = RecordingGate()
    hook = GitHubHook(cast(GitHubGate, gate), secret="", max_body_bytes=1 << 20)
    running = serve_app(hook)
    try:
        body = b"{}"
        headers = {"X-GitHub-Event": "deployment_status", "X-Hub-Signature-256": signed(body, "")}
        assert post(running.url, body, headers).status_code == 401
        assert gate.seen == []
    finally:
        stop(running)
        hook.close()

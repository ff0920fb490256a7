"""The sandbox's GitHub is as strict as GitHub: app JWT rules, installation tokens only where they
belong, one answer per protection rule, bodies in GitHub's shapes (githubkit's models, generated
from GitHub's OpenAPI description, parse them) and signed webhooks with the published keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit_schemas.v2026_03_10.models import Deployment, DeploymentStatus, WorkflowRun

from connector.sandbox import Sandbox
from connector.systems.github import AppCredentials, GitHubApp, read_private_key

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "github"
REPO = "acme/storefront"
SHA = "0123456789abcdef0123456789abcdef01234567"


def app_jwt(
    sandbox: Sandbox, *, key: bytes | None = None, lifetime: int = 540, iat: int = -60
) -> str:
    info = sandbox.github.app_info()
    now = int(datetime.now(UTC).timestamp())
    pem = key or Path(info["private_key_path"]).read_bytes()
    claims = {"iss": str(info["app_id"]), "iat": now + iat, "exp": now + lifetime}
    return jwt.encode(claims, pem, algorithm="RS256")


def call(sandbox: Sandbox, method: str, path: str, auth: str = "", **kw: Any) -> requests.Response:
    headers = {"Accept": "application/vnd.github+json"}
    if auth:
        headers["Authorization"] = auth
    return requests.request(
        method,
        f"{sandbox.github.app_info()['api_url']}{path}",
        headers=headers,
        verify=sandbox.info.ca_bundle,
        timeout=10,
        **kw,
    )


def installation_token(sandbox: Sandbox) -> str:
    info = sandbox.github.app_info()
    bearer = f"Bearer {app_jwt(sandbox)}"
    found = call(sandbox, "GET", f"/repos/{REPO}/installation", bearer)
    assert found.status_code == 200 and found.json()["id"] == info["installation_id"]
    made = call(sandbox, "POST", f"/app/installations/{found.json()['id']}/access_tokens", bearer)
    assert made.status_code == 201
    token: str = made.json()["token"]
    return token


def test_app_endpoints_take_only_a_valid_app_jwt(sandbox: Sandbox) -> None:
    path = f"/repos/{REPO}/installation"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert call(sandbox, "GET", path).status_code == 401
    assert call(sandbox, "GET", path, f"Bearer {app_jwt(sandbox, key=other)}").status_code == 401
    too_long = app_jwt(sandbox, lifetime=20 * 60)
    assert call(sandbox, "GET", path, f"Bearer {too_long}").status_code == 401
    expired = app_jwt(sandbox, lifetime=-5, iat=-300)
    assert call(sandbox, "GET", path, f"Bearer {expired}").status_code == 401
    future = app_jwt(sandbox, iat=300, lifetime=500)
    assert call(sandbox, "GET", path, f"Bearer {future}").status_code == 401
    token = installation_token(sandbox)
    assert call(sandbox, "GET", path, f"token {token}").status_code == 403
    assert (
        call(
            sandbox, "GET", "/repos/acme/elsewhere/installation", f"Bearer {app_jwt(sandbox)}"
        ).status_code
        == 404
    )


def test_repository_endpoints_take_only_an_unexpired_installation_token(sandbox: Sandbox) -> None:
    path = f"/repos/{REPO}/actions/runs?status=waiting"
    assert call(sandbox, "GET", path, f"Bearer {app_jwt(sandbox)}").status_code == 403
    assert call(sandbox, "GET", path, "token ghs_notatokenatall").status_code == 401
    token = installation_token(sandbox)
    assert call(sandbox, "GET", path, f"token {token}").status_code == 200
    with sandbox.state.lock:
        sandbox.github.keys.tokens[token].expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert call(sandbox, "GET", path, f"token {token}").status_code == 401


def test_a_rule_is_answered_once_in_its_own_environment(sandbox: Sandbox) -> None:
    run = sandbox.github.start_deployment(REPO, environment="staging", sha=SHA)
    auth = f"Bearer {installation_token(sandbox)}"
    path = f"/repos/{REPO}/actions/runs/{run}/deployment_protection_rule"

    def post(body: Any) -> int:
        return call(sandbox, "POST", path, auth, json=body).status_code

    assert post({"environment_name": "staging", "state": "maybe"}) == 422
    assert post({"environment_name": "staging"}) == 422
    assert post({"environment_name": "production", "state": "approved"}) == 422
    assert post({"environment_name": "staging", "comment": "checking CHG-1"}) == 204
    pending = call(sandbox, "GET", f"/repos/{REPO}/actions/runs/{run}/pending_deployments", auth)
    assert [p["environment"]["name"] for p in pending.json()] == ["staging"]
    assert post({"environment_name": "staging", "state": "approved", "comment": "ok"}) == 204
    assert post({"environment_name": "staging", "state": "approved", "comment": "ok"}) == 422
    assert post({"environment_name": "staging", "comment": "late"}) == 422
    assert (
        call(sandbox, "GET", f"/repos/{REPO}/actions/runs/{run}/pending_deployments", auth).json()
        == []
    )
    assert (
        call(
            sandbox,
            "POST",
            f"/repos/{REPO}/actions/runs/1/deployment_protection_rule",
            auth,
            json={"environment_name": "staging", "state": "approved"},
        ).status_code
        == 404
    )
    assert [a["state"] for a in sandbox.github.callbacks(run)] == ["approved"]


def test_bodies_parse_as_githubs_models(sandbox: Sandbox) -> None:
    run = sandbox.github.start_deployment(REPO, environment="qa", sha=SHA, actor="alice")
    auth = f"Bearer {installation_token(sandbox)}"
    body = call(sandbox, "GET", f"/repos/{REPO}/actions/runs/{run}", auth).json()
    parsed = WorkflowRun.model_validate(body)
    assert parsed.status == "waiting" and parsed.head_sha == SHA
    deployments = call(sandbox, "GET", f"/repos/{REPO}/deployments?sha={SHA}&environment=qa", auth)
    (dep,) = [Deployment.model_validate(d) for d in deployments.json()]
    assert dep.creator is not None and dep.creator.login == "alice"
    statuses = call(sandbox, "GET", f"/repos/{REPO}/deployments/{dep.id}/statuses", auth).json()
    assert [DeploymentStatus.model_validate(s).state for s in statuses] == ["pending"]
    real = json.loads((REAL / "workflow_run-requested.payload.json").read_text())["workflow_run"]
    assert set(WorkflowRun.model_fields) >= set(body) - set(real)  # no invented keys


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, raw))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


def test_webhooks_are_signed_and_shaped_as_published(
    sandbox: Sandbox, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    sandbox.github.webhook_url = url
    try:
        run = sandbox.github.start_deployment(REPO, environment="demo", sha=SHA)
        assert sandbox.github_webhooks.wait_idle(10)
        app = GitHubApp(
            AppCredentials(
                app_id=str(sandbox.github.app_info()["app_id"]),
                private_key=read_private_key(
                    path=Path(sandbox.github.app_info()["private_key_path"]), text=None
                ),
                api_url=sandbox.github.app_info()["api_url"],
                ca_bundle=Path(sandbox.info.ca_bundle),
            )
        )
        assert app.answer(REPO, run, environment="demo", approved=True, comment="ok") is True
        assert app.answer(REPO, run, environment="demo", approved=True, comment="ok") is False
        sandbox.github.finish_deployment(run, state="success")
        assert sandbox.github_webhooks.wait_idle(10)
    finally:
        sandbox.github.webhook_url = None
    events = [h["x-github-event"] for h, _ in received]
    assert events == ["deployment_protection_rule", "deployment_status"]
    secret = sandbox.github.app_info()["webhook_secret"].encode()
    schema = json.loads((REAL / "deployment_protection_rule-requested.schema.json").read_text())
    published = json.loads((REAL / "deployment_status-with-installation.payload.json").read_text())
    for headers, raw in received:
        expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature-256"] == expected and headers["x-github-delivery"]
    rule, status = (json.loads(raw) for _, raw in received)
    assert set(schema["required"]) <= set(rule) <= set(schema["properties"])
    assert rule["deployment_callback_url"].endswith(
        f"/actions/runs/{run}/deployment_protection_rule"
    )
    Deployment.model_validate(rule["deployment"])
    assert set(published) <= set(status)
    assert set(published["deployment_status"]) <= set(status["deployment_status"])
    assert status["deployment_status"]["state"] == "success"

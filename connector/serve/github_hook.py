"""`POST /webhooks/github`: the GitHub App's webhook (deployment protection rules, statuses).

    X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under deploy.github.webhook_secret>
    X-GitHub-Event: deployment_protection_rule | deployment_status | ping | ...
    X-GitHub-Delivery: <GUID>

The signature is checked before anything else, in constant time: a missing or wrong one is 401
and nothing is read further. A signed body that is not a JSON object is 400. `ping` is 200;
`deployment_protection_rule` and `deployment_status` are answered 202 at once and handled on a
worker thread (GitHub waits 10 s for an answer and does not redeliver a failed delivery: the
gate's work, which calls GitHub back, stays off the request path; a delivery lost in a crash is
found by the gate's reconcile). Other events are 202 and ignored. Errors are one-line answers,
never a 500 with a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loguru import logger
from starlette.types import Receive, Scope, Send

from connector.core import secret_rules
from connector.core.deploy.github import PayloadProblem
from connector.core.errors import ConnectorError
from connector.serve.asgi_io import read_limited as _read_limited
from connector.serve.asgi_io import respond as _respond
from connector.serve.webhook_parse import Refused
from connector.sync.github_gate import GitHubGate

PATH = "/webhooks/github"
SIGNATURE = "x-hub-signature-256"
EVENT = "x-github-event"
DELIVERY = "x-github-delivery"
HANDLED = ("deployment_protection_rule", "deployment_status")


class GitHubHook:
    """The plain ASGI handler of `POST /webhooks/github`."""

    def __init__(self, gate: GitHubGate, *, secret: str, max_body_bytes: int) -> None:
        self.gate = gate
        # A blank secret verifies nothing: every delivery is refused (refused at start too).
        self._secret = secret.encode() if secret_rules.usable(secret) else None
        self.limit = max_body_bytes
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="github-gate")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            body = await _read_limited(headers, receive, self.limit)
            if body is None:
                return
            self._verify(headers, body)
            payload = _object(body)
        except Refused as refused:
            await _respond(send, refused.status, {"error": refused.message})
            return
        event = headers.get(EVENT, "")
        if event == "ping":
            await _respond(send, 200, {"status": "pong"})
            return
        if event in HANDLED:
            self._pool.submit(self._handle, event, headers.get(DELIVERY, ""), payload)
            await _respond(send, 202, {"status": "accepted"})
            return
        await _respond(send, 202, {"status": "ignored"})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get(SIGNATURE, "")
        key = self._secret or _NO_SECRET
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(given.encode("latin-1"), expected.encode())
        if self._secret is None or not given or not valid:
            raise Refused(401, "missing or invalid signature")

    def _handle(self, event: str, delivery: str, payload: dict[str, Any]) -> None:
        """One delivery, on a worker thread: every failure is a log line, never lost silently."""
        try:
            if event == "deployment_protection_rule":
                decision = self.gate.on_protection_rule(payload)
                logger.info("github: delivery {}: {}", delivery, decision.summary())
            else:
                self.gate.on_deployment_status(payload)
        except PayloadProblem as exc:
            logger.warning("github: delivery {} ignored: {}", delivery, exc)
        except ConnectorError as exc:
            # the reconcile of the next poll cycle finds the run still waiting and settles it
            logger.warning("github: delivery {} not settled: {}", delivery, exc.message)
        except Exception as exc:  # a bug must not kill the thread pool's worker
            logger.exception(
                "github: delivery {} failed unexpectedly: {}", delivery, type(exc).__name__
            )


_NO_SECRET = hashlib.sha256(b"change-connector: no github secret").digest()


def _object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "body is not a JSON object")
    return payload

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
from typing import Any

from loguru import logger
from starlette.types import Receive

from connector.core.deploy.github import PayloadProblem
from connector.core.errors import ConnectorError
from connector.serve.asgi_io import read_limited
from connector.serve.provider_hook import Answer, ProviderHook, secret_matches, usable_secret
from connector.serve.webhook_parse import Refused
from connector.sync.github_gate import GitHubGate

PATH = "/webhooks/github"
SIGNATURE = "x-hub-signature-256"
EVENT = "x-github-event"
DELIVERY = "x-github-delivery"
HANDLED = ("deployment_protection_rule", "deployment_status")


class GitHubHook(ProviderHook):
    """The plain ASGI handler of `POST /webhooks/github`."""

    def __init__(self, gate: GitHubGate, *, secret: str, max_body_bytes: int) -> None:
        super().__init__(max_body_bytes=max_body_bytes, pool_name="github-gate")
        self.gate = gate
        # A blank secret verifies nothing: every delivery is refused (refused at start too).
        self._secret = usable_secret(secret)

    async def answer(self, headers: Mapping[str, str], receive: Receive) -> Answer:
        body = await read_limited(headers, receive, self.limit)
        if body is None:
            return None
        self._verify(headers, body)
        payload = _object(body)
        event = headers.get(EVENT, "")
        if event == "ping":
            return 200, {"status": "pong"}
        if event in HANDLED:
            self._pool.submit(self._handle, event, headers.get(DELIVERY, ""), payload)
            return 202, {"status": "accepted"}
        return 202, {"status": "ignored"}

    def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get(SIGNATURE, "")
        key = self._secret or _NO_SECRET
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        matches = secret_matches(
            given.encode("latin-1"), expected.encode(), configured=self._secret is not None
        )
        if not matches:
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

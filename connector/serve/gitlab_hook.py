"""`POST /webhooks/gitlab`: GitLab's project hooks with deployment events.

    X-Gitlab-Token: <deploy.gitlab.webhook_token>   (GitLab sends the secret as-is, unsigned)
    X-Gitlab-Event: Deployment Hook
    X-Gitlab-Event-UUID: <uuid>                      (logged with what became of the delivery)

The token is compared in constant time before anything else is looked at, the body included: a
missing or wrong token is 401 and nothing is read further or stored (a worker without a webhook
token refuses every delivery). A body over `server.max_body_bytes` is 413; one that is not a
JSON object naming a deployment is 400. A Deployment Hook is answered 202 at once and handled
on a worker thread (the gate calls GitLab back, which must not hold GitLab's delivery; a
delivery lost in a crash is found by the next poll of blocked deployments). Other events are
202 and ignored.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from loguru import logger
from starlette.types import Receive, Scope, Send

from connector.core import secret_rules
from connector.core.deploy.gitlab import HookEvent, PayloadProblem, hook_event
from connector.core.errors import ConnectorError
from connector.serve.asgi_io import read_limited as _read_limited
from connector.serve.asgi_io import respond as _respond
from connector.serve.webhook_parse import Refused, parse_body
from connector.sync.gitlab_gate import GitLabGate

PATH = "/webhooks/gitlab"
TOKEN = "x-gitlab-token"
EVENT = "x-gitlab-event"
EVENT_ID = "x-gitlab-event-uuid"
DEPLOYMENT_HOOK = "Deployment Hook"
NOT_SIGNED = "missing or invalid token"
#: What a worker without a usable webhook token compares against (never matches).
_NO_TOKEN = b"change-connector: no gitlab webhook token"


class GitLabHook:
    """The plain ASGI handler of `POST /webhooks/gitlab`."""

    def __init__(
        self, gate: GitLabGate, *, token: str | None, max_body_bytes: int, max_depth: int
    ) -> None:
        self.gate = gate
        # A blank token verifies nothing: every delivery is refused.
        self._token = token.encode() if token and secret_rules.usable(token) else None
        self.limit = max_body_bytes
        self.max_depth = max_depth
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gitlab-gate")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            self._verify(headers)
            body = await _read_limited(headers, receive, self.limit)
            if body is None:
                return  # the client went away before sending the body
            if headers.get(EVENT) != DEPLOYMENT_HOOK:
                await _respond(send, 202, {"status": "ignored"})
                return
            _, payload = parse_body(body, max_depth=self.max_depth)
            event = hook_event(payload)
        except Refused as refused:
            await _respond(send, refused.status, {"error": refused.message})
            return
        except PayloadProblem as problem:
            await _respond(send, 400, {"error": str(problem)})
            return
        self._pool.submit(self._handle, headers.get(EVENT_ID, "")[:80], event)
        await _respond(send, 202, {"status": "accepted"})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _verify(self, headers: Mapping[str, str]) -> None:
        given = headers.get(TOKEN, "").encode("latin-1")
        valid = hmac.compare_digest(given, self._token or _NO_TOKEN)
        if self._token is None or not given or not valid:
            raise Refused(401, NOT_SIGNED)

    def _handle(self, delivery: str, event: HookEvent) -> None:
        """One delivery, on a worker thread: every failure is a log line, never lost silently."""
        try:
            decision = self.gate.on_event(event)
        except ConnectorError as exc:
            # the next poll finds the deployment still blocked and settles it then
            logger.warning("gitlab: delivery {} not settled: {}", delivery, exc.message)
            return
        except Exception as exc:  # a bug must not kill the pool's worker
            logger.exception(
                "gitlab: delivery {} failed unexpectedly: {}", delivery, type(exc).__name__
            )
            return
        if decision is not None:
            ref = f"{event.project}#{event.deployment_id}"
            logger.info("gitlab: delivery {}: {}: {}", delivery, ref, decision.summary())

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

from collections.abc import Mapping

from loguru import logger
from starlette.types import Receive

from connector.core.deploy.gitlab import HookEvent, PayloadProblem, hook_event
from connector.core.errors import ConnectorError
from connector.serve.asgi_io import read_limited
from connector.serve.provider_hook import Answer, ProviderHook, secret_matches, usable_secret
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


class GitLabHook(ProviderHook):
    """The plain ASGI handler of `POST /webhooks/gitlab`."""

    def __init__(
        self, gate: GitLabGate, *, token: str | None, max_body_bytes: int, max_depth: int
    ) -> None:
        super().__init__(max_body_bytes=max_body_bytes, pool_name="gitlab-gate")
        self.gate = gate
        # A blank token verifies nothing: every delivery is refused.
        self._token = usable_secret(token)
        self.max_depth = max_depth

    async def answer(self, headers: Mapping[str, str], receive: Receive) -> Answer:
        self._verify(headers)
        body = await read_limited(headers, receive, self.limit)
        if body is None:
            return None  # the client went away before sending the body
        if headers.get(EVENT) != DEPLOYMENT_HOOK:
            return 202, {"status": "ignored"}
        try:
            _, payload = parse_body(body, max_depth=self.max_depth)
            event = hook_event(payload)
        except PayloadProblem as problem:
            raise Refused(400, str(problem)) from None
        self._pool.submit(self._handle, headers.get(EVENT_ID, "")[:80], event)
        return 202, {"status": "accepted"}

    def _verify(self, headers: Mapping[str, str]) -> None:
        given = headers.get(TOKEN, "").encode("latin-1")
        if not secret_matches(given, self._token or _NO_TOKEN, configured=self._token is not None):
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

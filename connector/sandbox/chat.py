"""Chat webhooks of the sandbox: Slack incoming webhooks, Teams Workflows, a signed JSON hook.

    POST /chat/slack/services/{team}/{bot}/{token}            200 "ok" (text/plain)
    POST /chat/teams/workflows/{flow}/triggers/manual/paths/invoke?api-version=1&sig=...  202
    POST /chat/webhook/{name}   (X-Change-Connector-Signature: sha256=<hex HMAC of the body>)
    GET / DELETE /_sandbox/chat  the log of every post received (tests read it), and its reset

Each checks what the real service checks, and more where the real one fails later or silently:
Slack answers 404 `no_service` to an unknown URL, 400 `invalid_payload` to a body that is not
a JSON object, `no_text` without a fallback `text` (Slack only warns when blocks are present;
the sandbox refuses), `invalid_blocks` to more than 50 blocks, an unknown block or element, a
section text over 3,000 characters; Teams answers 401 to a wrong `sig`, 413 over ~28 KB, 429
(Retry-After) past 4 requests per second per workflow, and 400 (the real flow accepts with 202
and fails afterwards) to a body that is not a message with Adaptive Card attachments of version
1.4 or lower. Accepted and refused posts are all logged with their status and error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from connector.sandbox.chat_formats import SLACK_TOP_KEYS, adaptive_card_problem, blocks_problem

TEAMS_MAX_BYTES = 28 * 1024
TEAMS_PER_SECOND = 4


@dataclass
class ChatSimulator:
    """The three receivers, their secrets, and the log of posts."""

    slack_path: str  # services/T…/B…/token
    teams_flow: str
    teams_sig: str
    webhook_secret: str
    log: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _teams_times: deque[float] = field(default_factory=deque)

    @property
    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/slack/{path:path}", self._slack, methods=["POST"])
        router.add_api_route(
            "/teams/workflows/{flow}/triggers/manual/paths/invoke", self._teams, methods=["POST"]
        )
        router.add_api_route("/webhook/{name}", self._webhook, methods=["POST"])
        return router

    def urls(self, base: str) -> dict[str, str]:
        return {
            "slack": f"{base}/chat/slack/{self.slack_path}",
            "teams": (
                f"{base}/chat/teams/workflows/{self.teams_flow}/triggers/manual/paths/invoke"
                f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.teams_sig}"
            ),
            "webhook": f"{base}/chat/webhook/hook",
            "webhook_secret": self.webhook_secret,
            "log": f"{base}/_sandbox/chat",
        }

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def reset(self) -> None:
        """Empty the log (and the rate windows: a test starts from a quiet second)."""
        with self._lock:
            self.log.clear()
            self._teams_times.clear()

    def _record(
        self, service: str, status: int, error: str, raw: bytes, headers: dict[str, str]
    ) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        entry = {
            "service": service,
            "status": status,
            "error": error,
            "body": body,
            "delivery": headers.get("x-change-connector-delivery", ""),
            "at": time.time(),
        }
        with self._lock:
            self.log.append(entry)

    # -- Slack ----------------------------------------------------------------------------------

    async def _slack(self, path: str, request: Request) -> Response:
        raw = await request.body()
        status, error = 200, ""
        if path != self.slack_path:
            status, error = 404, "no_service"
        else:
            status, error = _slack_check(raw, request.headers.get("content-type", ""))
        self._record("slack", status, error, raw, dict(request.headers))
        return PlainTextResponse(error or "ok", status_code=status)

    # -- Teams ----------------------------------------------------------------------------------

    async def _teams(self, flow: str, request: Request) -> Response:
        raw = await request.body()
        sig = request.query_params.get("sig", "")
        status, error, headers = 202, "", {}
        if flow != self.teams_flow or not hmac.compare_digest(sig, self.teams_sig):
            status, error = 401, "DirectApiInvalidAuthorizationSignature"
        elif not self._teams_slot():
            status, error, headers = 429, "TooManyRequests", {"Retry-After": "1"}
        elif len(raw) > TEAMS_MAX_BYTES:
            status, error = 413, "RequestEntityTooLarge"
        else:
            problem = _teams_problem(raw)
            if problem:
                status, error = 400, problem
        self._record("teams", status, error, raw, dict(request.headers))
        if status == 202:
            return Response(status_code=202)
        payload = {"error": {"code": error.split(":")[0], "message": error}}
        return JSONResponse(payload, status_code=status, headers=headers)

    def _teams_slot(self) -> bool:
        """At most 4 requests in any one second per workflow (the rest: 429)."""
        now = time.monotonic()
        with self._lock:
            while self._teams_times and now - self._teams_times[0] >= 1.0:
                self._teams_times.popleft()
            if len(self._teams_times) >= TEAMS_PER_SECOND:
                return False
            self._teams_times.append(now)
            return True

    # -- generic signed webhook -----------------------------------------------------------------

    async def _webhook(self, name: str, request: Request) -> Response:
        raw = await request.body()
        given = request.headers.get("x-change-connector-signature", "")
        wanted = "sha256=" + hmac.new(self.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
        status, error = 200, ""
        if name != "hook":
            status, error = 404, "no such hook"
        elif not hmac.compare_digest(given, wanted):
            status, error = 401, "bad signature"
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict) or not body.get("id") or not body.get("event"):
                status, error = 400, "not a JSON object with id and event"
        self._record("webhook", status, error, raw, dict(request.headers))
        return JSONResponse({"ok": status == 200, "error": error or None}, status_code=status)


def _slack_check(raw: bytes, content_type: str) -> tuple[int, str]:
    if not content_type.startswith("application/json"):
        return 400, "invalid_payload"
    try:
        body = json.loads(raw)
    except ValueError:
        return 400, "invalid_payload"
    if not isinstance(body, dict) or set(body) - SLACK_TOP_KEYS:
        return 400, "invalid_payload"
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return 400, "no_text"
    if "blocks" in body and blocks_problem(body["blocks"]):
        return 400, "invalid_blocks"
    return 200, ""


def _teams_problem(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return "InvalidRequestContent: not JSON"
    if not isinstance(body, dict) or body.get("type") != "message":
        return "InvalidRequestContent: not a message (type must be 'message')"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "InvalidRequestContent: no attachments"
    for attachment in attachments:
        if not isinstance(attachment, dict):
            return "InvalidRequestContent: an attachment is not an object"
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "InvalidRequestContent: attachments must be Adaptive Cards"
        if problem := adaptive_card_problem(attachment.get("content")):
            return f"InvalidRequestContent: {problem}"
    return ""

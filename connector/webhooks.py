"""Webhook intake: verify, enqueue, answer 202. Nothing else happens on the request path.

    POST /webhooks/jira/{source}         X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>
    POST /webhooks/servicenow/{source}   <configured header>: <base64 HMAC-SHA256 of the raw body>
    GET  /healthz                        liveness and the store's reachability
    GET  /metrics                        Prometheus text format

Refusals store nothing: an unknown source or malformed JSON is 400, a missing or wrong
signature 401, a body over the configured size 413. A valid delivery is written to the inbox
(deduplicated on the sender's delivery id) and answered 202; the drain job re-reads the ticket
by key later, so a webhook is only ever a hint and a lost one is caught by the next poll.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from connector.errors import ConfigError
from connector.metrics import Metrics
from connector.settings import Settings, SourceSettings
from connector.store import Store

JIRA_SIGNATURE = "X-Hub-Signature"
JIRA_DELIVERY = "X-Atlassian-Webhook-Identifier"
SERVICENOW_DELIVERY = "X-ServiceNow-Event-Id"


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_secrets(settings: Settings) -> None:
    """Serving unsigned webhooks needs the explicit insecure flag."""
    if settings.server.insecure_unsigned_webhooks:
        return
    unsigned = sorted(n for n, s in settings.sources.items() if s.webhook_secret is None)
    if unsigned:
        raise ConfigError(
            f"sources.{unsigned[0]}.webhook_secret: not set; webhooks from "
            f"{', '.join(unsigned)} could be forged (set a secret, or "
            "server.insecure_unsigned_webhooks = true for local experiments)"
        )


def build_app(settings: Settings, store: Store, metrics: Metrics) -> FastAPI:
    check_secrets(settings)
    app = FastAPI(title="change-connector", docs_url=None, redoc_url=None, openapi_url=None)
    limit = settings.server.max_body_bytes

    async def intake(system: str, source: str, request: Request) -> Response:
        try:
            config = _source(settings, system, source)
            body = await _read_limited(request, limit)
            _verify(system, config, request.headers, body)
            payload = _parse(body)
            ticket = _ticket_key(system, payload)
        except Refused as refused:
            metrics.webhook(source=source, result=str(refused.status))
            return JSONResponse({"error": refused.message}, status_code=refused.status)
        delivery = _delivery_id(system, request.headers, body)
        fresh = store.inbox_add(
            source=source, delivery_id=delivery, ticket_key=ticket, body=body.decode()
        )
        metrics.webhook(source=source, result="accepted" if fresh else "duplicate")
        return JSONResponse({"status": "accepted" if fresh else "duplicate"}, status_code=202)

    @app.post("/webhooks/jira/{source}")
    async def jira(source: str, request: Request) -> Response:
        return await intake("jira", source, request)

    @app.post("/webhooks/servicenow/{source}")
    async def servicenow(source: str, request: Request) -> Response:
        return await intake("servicenow", source, request)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "inbox_depth": store.inbox_depth()}

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(store), media_type=metrics.content_type)

    return app


def _source(settings: Settings, system: str, name: str) -> SourceSettings:
    config = settings.sources.get(name)
    if config is None or config.kind != system:
        raise Refused(400, f"unknown {system} source {name!r}")
    return config


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(system: str, config: SourceSettings, headers: Any, body: bytes) -> None:
    if config.webhook_secret is None:
        return  # allowed only with server.insecure_unsigned_webhooks (checked at start)
    key = config.webhook_secret.get_secret_value().encode()
    mac = hmac.new(key, body, hashlib.sha256)
    if system == "jira":
        given = headers.get(JIRA_SIGNATURE, "")
        expected = "sha256=" + mac.hexdigest()
    else:
        given = headers.get(config.webhook_signature_header, "")
        expected = base64.b64encode(mac.digest()).decode()
    if not given:
        raise Refused(401, "unsigned delivery")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(401, "bad signature")


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "body is not a JSON object")
    return payload


def _ticket_key(system: str, payload: dict[str, Any]) -> str:
    if system == "jira":
        issue = payload.get("issue")
        key = issue.get("key") if isinstance(issue, dict) else None
    else:
        key = payload.get("number") or payload.get("sys_id")
    if not isinstance(key, str) or not key:
        raise Refused(400, "no ticket key in the body")
    return key


def _delivery_id(system: str, headers: Any, body: bytes) -> str:
    header = JIRA_DELIVERY if system == "jira" else SERVICENOW_DELIVERY
    # Without the sender's id, identical bodies are the same delivery.
    return headers.get(header) or "sha256:" + hashlib.sha256(body).hexdigest()

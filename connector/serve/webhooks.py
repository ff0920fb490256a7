"""Webhook intake: verify, enqueue, answer 202. Nothing else happens on the request path.

    POST /webhooks/jira/{source}         X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>
    POST /webhooks/servicenow/{source}   <configured header>: <base64 HMAC-SHA256 of the raw body>
    POST /webhooks/github                the GitHub App's webhook (serve/github_hook.py)
    GET  /healthz                        liveness and the store's reachability (503 if not)
    GET  /metrics                        Prometheus text format

Refusals store nothing. The signature is checked before anything about the source is said: an
unknown source, a missing and a wrong signature all answer 401 with the same body (source names
cannot be probed). A body over `server.max_body_bytes` is 413 (on the declared Content-Length
before reading, else as soon as the chunks pass it), one not received in full within
`server.body_timeout_seconds` 408 (a stalled body holds nothing for long). A signed body that is
not a UTF-8 JSON object within the parse limits (connector.serve.webhook_parse), or names no ticket
key of its system's format, is 400. A valid delivery is written to the inbox (deduplicated on the
sender's delivery id: Jira's X-Atlassian-Webhook-Identifier, the ServiceNow rule's
X-ServiceNow-Event-Id, else a hash of the body; and on the body itself within
`server.replay_window_hours`, since the delivery id is not covered by the signature) and answered
202 only once committed; a store outage is 503 and an inbox holding `server.max_pending` pending
rows 429, both with Retry-After, so the sender retries. The drain job re-reads the ticket by key
later, so a webhook is only ever a hint and a lost one is caught by the next poll.

Writes never run on the event loop: one `InboxWriter` thread per app (inbox_writer.py) takes
every delivery queued since its last commit and writes them in one transaction (group commit),
so a slow or locked database stalls only the requests waiting for it, and the intake sustains
thousands of deliveries a second on SQLite (bench/webhook_bench.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from loguru import logger
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.core import secret_rules
from connector.core.errors import ConfigError, ConnectorError, TransientError
from connector.serve.asgi_io import read_limited as _read_limited
from connector.serve.asgi_io import respond as _respond
from connector.serve.inbox_writer import InboxWriter
from connector.serve.metrics import Metrics
from connector.serve.webhook_parse import Refused, parse_body, ticket_key
from connector.settings import Settings, SourceSettings
from connector.store import Store
from connector.store.inbox import IntakeLimits, NewDelivery

PREFIX = "/webhooks/"
SYSTEMS = ("jira", "servicenow")
# Header names as the ASGI server hands them over: lower case.
JIRA_SIGNATURE = "x-hub-signature"
JIRA_DELIVERY = "x-atlassian-webhook-identifier"
SERVICENOW_DELIVERY = "x-servicenow-event-id"
#: Width of the inbox's delivery_id and ticket_key columns.
MAX_ID_LENGTH = 200
#: Seconds a sender is asked to wait when the store is unavailable or the inbox full.
RETRY_AFTER_SECONDS = 5
#: Seconds between two log lines about a full inbox.
FULL_LOG_SECONDS = 60.0
#: The one answer to an unknown source, a missing and a wrong signature.
NOT_SIGNED = "missing or invalid signature"


def check_secrets(settings: Settings) -> None:
    """Serving unsigned webhooks needs the explicit insecure flag; a blank secret is no secret."""
    for name, source in settings.sources.items():
        secret = source.webhook_secret
        if secret is not None and not secret_rules.usable(secret.get_secret_value()):
            raise ConfigError(f"sources.{name}.webhook_secret: empty: set a secret value")
    if settings.server.insecure_unsigned_webhooks:
        return
    unsigned = sorted(n for n, s in settings.sources.items() if s.webhook_secret is None)
    if unsigned:
        raise ConfigError(
            f"sources.{unsigned[0]}.webhook_secret: not set; webhooks from "
            f"{', '.join(unsigned)} could be forged (set a secret, or "
            "server.insecure_unsigned_webhooks = true for local experiments)"
        )


def server_options() -> dict[str, Any]:
    """uvicorn options for serving the app: the C parser and event loop when installed."""
    options: dict[str, Any] = {}
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:  # pragma: no cover - a dependency, but keep pure Python working
        options["http"] = "h11"
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:  # pragma: no cover
        options["loop"] = "asyncio"
    return options


def build_app(
    settings: Settings,
    store: Store,
    metrics: Metrics,
    *,
    hooks: Mapping[str, ASGIApp] | None = None,
) -> WebhookApp:
    """The ASGI app `change-connector run` serves: webhook intake, health, metrics, reports;
    `hooks` are the deployment providers' own webhook handlers by exact path
    (`POST /webhooks/gitlab`: serve/gitlab_hook.py)."""
    check_secrets(settings)
    limits = IntakeLimits(
        replay_window=timedelta(hours=settings.server.replay_window_hours),
        max_pending=settings.server.max_pending,
    )
    writer = InboxWriter(store, limits=limits)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.get_running_loop().run_in_executor(None, writer.close)
        for hook in (hooks or {}).values():
            # the providers' handlers answer on their own threads, which end with the server
            close = getattr(hook, "close", None)
            if close is not None:
                await asyncio.get_running_loop().run_in_executor(None, close)

    app = FastAPI(
        title="change-connector",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            depth = store.inbox_depth()
        except ConnectorError as exc:
            return JSONResponse({"status": "unavailable", "error": exc.message}, status_code=503)
        return JSONResponse({"status": "ok", "inbox_depth": depth})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(store), media_type=metrics.content_type)

    from connector.serve.report_api import add_report_routes

    add_report_routes(app, settings, store)
    from connector.serve.gate_api import add_gate_routes
    from connector.serve.gate_front import GateFront

    add_gate_routes(app, settings, store)
    front = GateFront(app, settings, store)
    return WebhookApp(settings, writer, metrics, fallback=front, hooks=hooks)


class WebhookApp:
    """`POST /webhooks/{system}/{source}` as a plain ASGI handler; the rest goes to FastAPI.

    The intake is the one hot path: a plain handler skips the framework's routing, dependency
    solving and middleware stack, which cost more than verifying and storing a delivery.
    """

    def __init__(
        self,
        settings: Settings,
        writer: InboxWriter,
        metrics: Metrics,
        *,
        fallback: ASGIApp,
        hooks: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        self.settings = settings
        self.hooks = dict(hooks or {})
        self.writer = writer
        self.metrics = metrics
        self.fallback = fallback
        self.limit = settings.server.max_body_bytes
        self._full_logged = -FULL_LOG_SECONDS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hook = self.hooks.get(scope["path"]) if scope["type"] == "http" else None
        if hook is not None:
            await hook(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.intake(scope, receive, send)
        else:
            await self.fallback(scope, receive, send)

    async def intake(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"][len(PREFIX) :].split("/")
        if len(parts) != 2 or parts[0] not in SYSTEMS or not parts[1]:
            await _respond(send, 404, {"error": "not found"})
            return
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        system, source = parts
        config = _source(self.settings, system, source)
        # never a metric label per URL a stranger makes up
        label = source if config is not None else "unknown"
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            body = await self._read(headers, receive)
            if body is None:
                return  # the client went away before sending the body: nothing to answer
            _verify(system, config, headers, body)
            text, payload = parse_body(body, max_depth=self.settings.server.max_json_depth)
            ticket = ticket_key(system, payload)
        except Refused as refused:
            await self._refuse(send, label, refused)
            return
        digest = hashlib.sha256(body).hexdigest()
        delivery = NewDelivery(source, _delivery_id(system, headers, body), ticket, text, digest)
        try:
            outcome = await self.writer.add(delivery)
        except TransientError as exc:
            self.metrics.webhook(source=label, result="503")
            logger.warning("webhook from {} not stored: {}", source, exc.message)
            await _respond(send, 503, {"error": "store unavailable, retry later"}, _RETRY)
            return
        except Exception as exc:
            self.metrics.webhook(source=label, result="500")
            logger.opt(exception=exc).error("webhook from {} not stored", source)
            await _respond(send, 500, {"error": "internal error"})
            return
        if outcome == "full":
            self.metrics.webhook(source=label, result="429")
            now = time.monotonic()
            if now - self._full_logged > FULL_LOG_SECONDS:  # one line a minute under a flood
                self._full_logged = now
                logger.warning("webhooks refused with 429: the inbox holds the most pending rows")
            await _respond(send, 429, {"error": "inbox full, retry later"}, _RETRY)
            return
        self.metrics.webhook(source=label, result=outcome)
        await _respond(send, 202, {"status": outcome})

    async def _read(self, headers: Mapping[str, str], receive: Receive) -> bytes | None:
        """The body within the size limit and the read timeout (408 when it stalls)."""
        timeout = self.settings.server.body_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                return await _read_limited(headers, receive, self.limit)
        except TimeoutError:
            raise Refused(408, f"body not received within {timeout:g} seconds") from None

    async def _refuse(self, send: Send, label: str, refused: Refused) -> None:
        self.metrics.webhook(source=label, result=str(refused.status))
        await _respond(send, refused.status, {"error": refused.message})


_RETRY = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]


def _source(settings: Settings, system: str, name: str) -> SourceSettings | None:
    config = settings.sources.get(name)
    return config if config is not None and config.kind == system else None


def _verify(
    system: str, config: SourceSettings | None, headers: Mapping[str, str], body: bytes
) -> None:
    """401 unless signed by the source's secret; an unknown source costs and answers the same."""
    if config is not None and config.webhook_secret is None:
        return  # allowed only with server.insecure_unsigned_webhooks (checked at start)
    if config is None or config.webhook_secret is None:
        secret, header = _UNKNOWN_SECRET, JIRA_SIGNATURE
    else:
        secret = config.webhook_secret.get_secret_value().encode()
        header = JIRA_SIGNATURE if system == "jira" else config.webhook_signature_header.lower()
        if not secret_rules.usable(secret.decode()):
            # a blank key signs nothing (refused at start too)
            config, secret = None, _UNKNOWN_SECRET
    mac = hmac.new(secret, body, hashlib.sha256)
    if system == "jira":
        expected = "sha256=" + mac.hexdigest()
    else:
        expected = base64.b64encode(mac.digest()).decode()
    given = headers.get(header, "")
    valid = hmac.compare_digest(given.encode("latin-1"), expected.encode())
    if config is None or not given or not valid:
        raise Refused(401, NOT_SIGNED)


#: What an unknown source's deliveries are checked against (never matches: it is refused anyway).
_UNKNOWN_SECRET = hashlib.sha256(b"change-connector: no such source").digest()


def _delivery_id(system: str, headers: Mapping[str, str], body: bytes) -> str:
    header = JIRA_DELIVERY if system == "jira" else SERVICENOW_DELIVERY
    given = headers.get(header)
    if not given:
        # Without the sender's id, identical bodies are the same delivery.
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if len(given) > MAX_ID_LENGTH:  # still one id per sender's id, within the column
        return "sha256:" + hashlib.sha256(given.encode()).hexdigest()
    return given

"""Webhook intake: verify, enqueue, answer 202. Nothing else happens on the request path.

    POST /webhooks/jira/{source}         X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>
    POST /webhooks/servicenow/{source}   <configured header>: <base64 HMAC-SHA256 of the raw body>
    GET  /healthz                        liveness and the store's reachability (503 if not)
    GET  /metrics                        Prometheus text format

Refusals store nothing: an unknown source, a body that is not a UTF-8 JSON object or names no
ticket is 400, a missing or wrong signature 401, a body over `server.max_body_bytes` 413 (on the
declared Content-Length before reading, else as soon as the chunks pass it). A valid delivery is
written to the inbox (deduplicated on the sender's delivery id: Jira's
X-Atlassian-Webhook-Identifier, the ServiceNow rule's X-ServiceNow-Event-Id, else a hash of the
body) and answered 202 only once committed; a store outage is 503 so the sender retries. The
drain job re-reads the ticket by key later, so a webhook is only ever a hint and a lost one is
caught by the next poll.

Writes never run on the event loop: one `InboxWriter` thread per app takes every delivery
queued since its last commit and writes them in one transaction (group commit), so a slow or
locked database stalls only the requests waiting for it, and the intake sustains thousands of
deliveries a second on SQLite (bench/webhook_bench.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import queue
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from loguru import logger
from starlette.types import Receive, Scope, Send

from connector import secret_rules
from connector.errors import ConfigError, ConnectorError, TransientError
from connector.metrics import Metrics
from connector.settings import Settings, SourceSettings
from connector.store import Store
from connector.store.inbox import NewDelivery

PREFIX = "/webhooks/"
SYSTEMS = ("jira", "servicenow")
# Header names as the ASGI server hands them over: lower case.
JIRA_SIGNATURE = "x-hub-signature"
JIRA_DELIVERY = "x-atlassian-webhook-identifier"
SERVICENOW_DELIVERY = "x-servicenow-event-id"
#: Width of the inbox's delivery_id and ticket_key columns.
MAX_ID_LENGTH = 200
#: Seconds a sender is asked to wait when the store is unavailable.
RETRY_AFTER_SECONDS = 5
#: Deliveries one inbox transaction takes at most.
MAX_BATCH = 256


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


_Waiter = tuple[NewDelivery, asyncio.AbstractEventLoop, "asyncio.Future[bool]"]


class InboxWriter:
    """Group commit: one thread writes queued deliveries to the inbox, a batch per transaction.

    `add` is awaited by the request handler and resolves once the delivery's transaction has
    committed: True if new, False for a duplicate; a store outage raises `TransientError`. A
    batch that fails for any other reason is retried one delivery per transaction, so one bad
    delivery cannot refuse its neighbours.
    """

    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def add(self, delivery: NewDelivery) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._start()
        self._queue.put((delivery, loop, future))
        return await future

    def close(self) -> None:
        """Write what is queued, then stop the thread (it starts again on the next `add`)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Waiter]) -> None:
        outcomes: list[bool | BaseException]
        try:
            outcomes = list(self.store.inbox_add_many([d for d, _, _ in batch]))
        except TransientError as exc:
            outcomes = [exc] * len(batch)
        except Exception as exc:
            if len(batch) > 1:
                for one in batch:
                    self._write([one])
                return
            outcomes = [exc]
        for (_, loop, future), outcome in zip(batch, outcomes, strict=True):
            # RuntimeError: the loop has closed, so nobody waits for this answer.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():  # the request was cancelled (client gone); the row stays, deduped
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def build_app(settings: Settings, store: Store, metrics: Metrics) -> WebhookApp:
    """The ASGI app `change-connector run` serves: webhook intake, health, metrics, reports."""
    check_secrets(settings)
    writer = InboxWriter(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.get_running_loop().run_in_executor(None, writer.close)

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

    from connector.report_api import add_report_routes

    add_report_routes(app, settings, store)
    return WebhookApp(settings, writer, metrics, fallback=app)


class WebhookApp:
    """`POST /webhooks/{system}/{source}` as a plain ASGI handler; the rest goes to FastAPI.

    The intake is the one hot path: a plain handler skips the framework's routing, dependency
    solving and middleware stack, which cost more than verifying and storing a delivery.
    """

    def __init__(
        self, settings: Settings, writer: InboxWriter, metrics: Metrics, *, fallback: FastAPI
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.metrics = metrics
        self.fallback = fallback
        self.limit = settings.server.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
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
        label = source
        try:
            config = _source(self.settings, system, source)
        except Refused as refused:
            # never a metric label per URL a stranger makes up
            await self._refuse(send, "unknown", refused)
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            body = await _read_limited(headers, receive, self.limit)
            if body is None:
                return  # the client went away before sending the body: nothing to answer
            _verify(system, config, headers, body)
            text, payload = _parse(body)
            ticket = _ticket_key(system, payload)
        except Refused as refused:
            await self._refuse(send, label, refused)
            return
        delivery = NewDelivery(source, _delivery_id(system, headers, body), ticket, text)
        try:
            fresh = await self.writer.add(delivery)
        except TransientError as exc:
            self.metrics.webhook(source=label, result="503")
            logger.warning("webhook from {} not stored: {}", source, exc.message)
            retry = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            await _respond(send, 503, {"error": "store unavailable, retry later"}, retry)
            return
        except Exception as exc:
            self.metrics.webhook(source=label, result="500")
            logger.opt(exception=exc).error("webhook from {} not stored", source)
            await _respond(send, 500, {"error": "internal error"})
            return
        status = "accepted" if fresh else "duplicate"
        self.metrics.webhook(source=label, result=status)
        await _respond(send, 202, {"status": status})

    async def _refuse(self, send: Send, label: str, refused: Refused) -> None:
        self.metrics.webhook(source=label, result=str(refused.status))
        await _respond(send, refused.status, {"error": refused.message})


async def _respond(
    send: Send,
    status: int,
    payload: dict[str, str],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _source(settings: Settings, system: str, name: str) -> SourceSettings:
    config = settings.sources.get(name)
    if config is None or config.kind != system:
        raise Refused(400, f"unknown {system} source {name!r}"[:300])
    return config


async def _read_limited(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes | None:
    """The whole body, refused with 413 once it passes `limit`; None if the client left."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _verify(system: str, config: SourceSettings, headers: Mapping[str, str], body: bytes) -> None:
    if config.webhook_secret is None:
        return  # allowed only with server.insecure_unsigned_webhooks (checked at start)
    key = config.webhook_secret.get_secret_value().encode()
    if not secret_rules.usable(key.decode()):
        raise Refused(401, "bad signature")  # a blank key signs nothing (refused at start too)
    mac = hmac.new(key, body, hashlib.sha256)
    if system == "jira":
        given = headers.get(JIRA_SIGNATURE, "")
        expected = "sha256=" + mac.hexdigest()
    else:
        given = headers.get(config.webhook_signature_header.lower(), "")
        expected = base64.b64encode(mac.digest()).decode()
    if not given:
        raise Refused(401, "unsigned delivery")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(401, "bad signature")


def _parse(body: bytes) -> tuple[str, dict[str, Any]]:
    """The body as text (stored as received) and as a JSON object."""
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "body is not valid UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "body is not a JSON object")
    return text, payload


def _ticket_key(system: str, payload: dict[str, Any]) -> str:
    if system == "jira":
        issue = payload.get("issue")
        key = issue.get("key") if isinstance(issue, dict) else None
    else:
        key = payload.get("number") or payload.get("sys_id")
    if not isinstance(key, str) or not key.strip():
        raise Refused(400, "no ticket key in the body")
    if len(key) > MAX_ID_LENGTH:
        raise Refused(400, f"ticket key longer than {MAX_ID_LENGTH} characters")
    return key


def _delivery_id(system: str, headers: Mapping[str, str], body: bytes) -> str:
    header = JIRA_DELIVERY if system == "jira" else SERVICENOW_DELIVERY
    given = headers.get(header)
    if not given:
        # Without the sender's id, identical bodies are the same delivery.
        return "sha256:" + hashlib.sha256(body).hexdigest()
    if len(given) > MAX_ID_LENGTH:  # still one id per sender's id, within the column
        return "sha256:" + hashlib.sha256(given.encode()).hexdigest()
    return given

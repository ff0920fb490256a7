"""`POST /gates` as a plain ASGI handler in front of the worker's FastAPI app (like the webhook
intake: a gate answer is on every pipeline's critical path, and the framework's routing costs
more than a cached answer).

Every question first reads the store's generation (`Store.gate_generation`: it moves with every
commit, of any process). On SQLite, decisions come from `sync.gate_memo`'s in-memory view of
that generation: when it is loaded, the decision runs right here on the event loop (~0.1 ms,
cheaper than a thread hand-off); otherwise the view is loaded (or the store read per question) in
the default thread pool, off the loop. The answer to the same question (change, service,
environment, commit, who) is reused for `deploy.answer_cache_seconds` (default 1 s; 0: never
reused) but only within the same generation, and questions asked at the same moment share one
computation: no answer is older than the last change stored before the question. `?wait=SECONDS`
decides again every `RECHECK_SECONDS` while the verdict is "wait" and answers as soon as it
changes, or when the time is up (still "wait").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.core.deploy import Deployment, GateDecision, Verdict
from connector.core.errors import ConnectorError
from connector.serve.asgi_io import read_body, send_json
from connector.serve.gate_api import BadBody, answer_body, gate_body, token_refusal, wait_seconds
from connector.serve.webhook_parse import Refused
from connector.settings import Settings
from connector.store import Store
from connector.sync import gates
from connector.sync.gate_memo import GateMemo

#: How often a long-polling request decides again while its verdict is "wait".
RECHECK_SECONDS = 0.25
PATH = "/gates"
_Question = tuple[str | None, str, str, str, str]


class GateFront:
    """Serves `POST /gates`; every other request goes to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app, self.settings, self.store, self.clock = app, settings, store, clock
        self.ttl = settings.deploy.answer_cache_seconds
        self.limit = settings.server.max_body_bytes
        # PostgreSQL's generation moves with every transaction on the server (other databases'
        # too), so a view would be reloaded for nearly every question: there the store is read
        # per question, and the generation only keeps the answer cache honest.
        self.memo = GateMemo(store) if store.is_sqlite else None
        self._answers: dict[_Question, tuple[float, str | None, GateDecision]] = {}
        self._pending: dict[tuple[_Question, str | None], asyncio.Future[GateDecision]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            await self.gate(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        authorization = ""
        for name, value in scope["headers"]:
            if name.lower() == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            refused = token_refusal(authorization, self.settings)
            if refused is not None:
                raise Refused(*refused)
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            wait = wait_seconds((query.get("wait") or [None])[0], self.settings)
            body = await read_body(receive, self.limit)
            if body is None:
                return  # the client left
            deployment = gate_body(body, now=self.clock())
            decision = await self._decide(deployment)
            deadline = time.monotonic() + wait
            while decision.verdict is Verdict.WAIT and time.monotonic() < deadline:
                await asyncio.sleep(min(RECHECK_SECONDS, deadline - time.monotonic()))
                decision = await self._decide(deployment)
        except BadBody as exc:
            await _respond(send, 400, {"error": str(exc)})
            return
        except Refused as exc:
            extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            await _respond(send, exc.status, {"error": exc.message}, extra)
            return
        except ConnectorError as exc:
            await _respond(send, 503, {"error": exc.message})
            return
        await _respond(send, 200, answer_body(decision))

    async def _decide(self, deployment: Deployment) -> GateDecision:
        # Read after the question arrived: nothing below answers from data older than this.
        # SQLite's is a local read of a few microseconds; a server's is a round trip, off the loop.
        if self.store.is_sqlite:
            generation = self.store.gate_generation()
        else:
            generation = await asyncio.get_running_loop().run_in_executor(
                None, self.store.gate_generation
            )
        question: _Question = (
            deployment.change_key,
            deployment.service,
            deployment.environment,
            deployment.commit,
            deployment.triggered_by,
        )
        now = time.monotonic()
        cached = self._answers.get(question)
        if cached is not None and cached[1] == generation and now - cached[0] < self.ttl:
            return cached[2]
        view = self.memo.current(generation) if self.memo is not None else None
        if view is not None:
            # Held in memory: deciding here costs less than handing it to a thread.
            decision = view.evaluate(
                settings=self.settings, deployment=deployment, now=self.clock()
            )
            self._keep(question, now, generation, decision)
            return decision
        pending = self._pending.get((question, generation))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[GateDecision] = asyncio.get_running_loop().create_future()
        self._pending[question, generation] = future
        try:
            decision = await asyncio.get_running_loop().run_in_executor(
                None, self._evaluate, deployment, generation
            )
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody logs it as lost
            raise
        finally:
            del self._pending[question, generation]
        future.set_result(decision)
        self._keep(question, now, generation, decision)
        return decision

    def _keep(
        self, question: _Question, now: float, generation: str | None, decision: GateDecision
    ) -> None:
        if self.ttl > 0:
            if len(self._answers) > 10_000:  # bounded: old answers are worth nothing
                self._answers.clear()
            self._answers[question] = (now, generation, decision)

    def _evaluate(self, deployment: Deployment, generation: str | None) -> GateDecision:
        view = self.memo.view(generation) if self.memo is not None else None
        if view is not None:
            return view.evaluate(settings=self.settings, deployment=deployment, now=self.clock())
        return gates.evaluate(
            store=self.store, settings=self.settings, deployment=deployment, now=self.clock()
        )


async def _respond(
    send: Send,
    status: int,
    payload: dict[str, Any],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send_json(send, status, orjson.dumps(payload), extra)

"""The sandbox's ASGI app: the simulators mounted under their prefixes, the request and chat logs,
and the middleware that is the one place applying switchable faults and recording every request.

`Sandbox` (server.py) builds it once and serves it under uvicorn; a fault rule picked for a Jira
or ServiceNow request answers with the system's own error shape, slows the request, or cuts the
connection mid-answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.sandbox.chat import ChatSimulator
from connector.sandbox.faults import FaultRule
from connector.sandbox.github import GitHubSimulator
from connector.sandbox.gitlab import GitLabSimulator
from connector.sandbox.jira import JiraSimulator
from connector.sandbox.servicenow import ServiceNowSimulator
from connector.sandbox.state import RequestRecord, SandboxState


def build_app(
    state: SandboxState,
    *,
    jira: JiraSimulator,
    servicenow: ServiceNowSimulator,
    chat: ChatSimulator | None = None,
    gitlab: GitLabSimulator | None = None,
    github: GitHubSimulator | None = None,
) -> ASGIApp:
    app = FastAPI(title="change-connector sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(jira.router, prefix="/jira")
    app.include_router(servicenow.router, prefix="/servicenow")
    if gitlab is not None:
        app.include_router(gitlab.router, prefix="/gitlab")
        app.include_router(gitlab.control, prefix="/_sandbox/gitlab")
    if github is not None:
        app.include_router(github.router, prefix="/github")
    if chat is not None:
        app.include_router(chat.router, prefix="/chat")

        @app.get("/_sandbox/chat")
        def chat_log() -> dict[str, Any]:
            return {"messages": chat.entries()}

        @app.delete("/_sandbox/chat", status_code=204)
        def reset_chat_log() -> None:
            chat.reset()

    @app.get("/_sandbox/requests")
    def request_log() -> dict[str, Any]:
        return state.request_log()

    @app.delete("/_sandbox/requests", status_code=204)
    def reset_request_log() -> None:
        state.reset_requests()

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"errorMessages": ["Not found"], "errors": {}}, status_code=404)

    return FaultsAndLog(app, state)


CLIENT_CLOSED = 499  # nginx's status for a request the client closed before it was answered


class FaultsAndLog:
    """ASGI middleware: inject the configured faults, then log what was served and to whom."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        system = path.split("/")[1] if path.count("/") >= 1 else ""
        system = system if system in ("jira", "servicenow", "github", "gitlab") else "sandbox"
        status_box = [0]
        logged = [False]
        read, cut = [False], [False]  # the request's body arrived whole; the client left first
        started = time.time()

        def log() -> None:
            if not logged[0]:
                logged[0] = True
                user = scope["state"].get("sandbox_user")
                # A client gone before its request arrived whole (a worker killed mid-request)
                # reached nothing, whatever the error answered: logged as nginx logs it.
                status = CLIENT_CLOSED if cut[0] else status_box[0]
                self.state.record(
                    RequestRecord(scope["method"], path, status, user, system, started=started)
                )

        async def receive_logged() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                read[0] = True
            elif message["type"] == "http.disconnect" and not read[0]:
                cut[0] = True
            return message

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                # Logged before the answer leaves: a client that has read an answer finds its
                # request in the log (a test counting requests right after a call).
                log()
            await send(message)

        # GitHub's calls are not faulted: the fault scopes name Jira and ServiceNow only
        rule = self.state.faults.pick(system) if system in ("jira", "servicenow") else None
        scope.setdefault("state", {})
        try:
            if rule is None or rule.kind == "slow":
                if rule is not None:
                    await asyncio.sleep(rule.delay)
                await self.app(scope, receive_logged, send_logged)
            elif rule.kind == "drop":
                if rule.applied:  # carry the request out, swallow its answer, then cut
                    await self.app(scope, receive_logged, _swallow)
                await _drop(send_logged)
            else:
                await _fail(rule, system, self.state, send_logged)
        finally:
            log()  # a dropped connection sends no answer


async def _fail(rule: FaultRule, system: str, state: SandboxState, send: Send) -> None:
    status = int(rule.kind)
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if status == 429:
        reset = int(state.now().timestamp() + rule.retry_after)
        headers += [
            (b"retry-after", f"{rule.retry_after:g}".encode()),
            (b"x-ratelimit-limit", b"100"),
            (b"x-ratelimit-remaining", b"0"),
            (b"x-ratelimit-reset", time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(reset)).encode()),
        ]
        if system == "jira":
            headers.append((b"ratelimit-reason", b"jira-quota-tenant-based"))
    if system == "servicenow":
        body = {"error": {"message": _REASONS[status], "detail": ""}, "status": "failure"}
    elif system == "gitlab":
        body = {"message": f"{status} {_REASONS[status]}"}
    else:
        body = {"errorMessages": [_REASONS[status]], "errors": {}}
    data = json.dumps(body).encode()
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _swallow(message: Message) -> None:
    return None


async def _drop(send: Send) -> None:
    """Start a response and cut the connection mid-body, as a failing proxy does."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
    raise ConnectionResetError("sandbox fault: connection dropped")


_REASONS = {
    429: "Rate limit exceeded.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}

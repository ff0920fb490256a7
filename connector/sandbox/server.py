"""Run the sandbox: one HTTPS server on 127.0.0.1 serving the Jira and ServiceNow simulators.

    https://127.0.0.1:PORT/jira         Jira REST API (Cloud or Data Center, per mode)
    https://127.0.0.1:PORT/servicenow   ServiceNow Table API
    https://127.0.0.1:PORT/gitlab       GitLab REST API: deployments and their approvals
    https://127.0.0.1:PORT/_sandbox/requests   the request log (GET) and its reset (DELETE)
    https://127.0.0.1:PORT/chat/...     Slack / Teams / signed chat webhooks (sandbox/chat.py),
                                        their log at /_sandbox/chat; `Sandbox.chat_urls`
    https://127.0.0.1:PORT/github       GitHub REST API subset of a GitHub App's deployment
                                        protection rule (sandbox/github); `Sandbox.github`

`Sandbox` starts it in-process (tests, the demo, benchmarks) on a free port unless one is given;
`change-connector sandbox` runs it in the foreground. The ASGI middleware here is the one place
that applies switchable faults and records every request served.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.sandbox.catalog import SERVICENOW_ROLES, USERS
from connector.sandbox.chat import ChatSimulator
from connector.sandbox.faults import FaultRule
from connector.sandbox.github import GitHubSimulator
from connector.sandbox.gitlab import GitLabSimulator
from connector.sandbox.jira import JiraSimulator
from connector.sandbox.scenario import generate
from connector.sandbox.servicenow import ServiceNowSimulator
from connector.sandbox.state import RequestRecord, SandboxOptions, SandboxState
from connector.sandbox.tls import ensure_tls
from connector.sandbox.webhooks_out import WebhookDispatcher


@dataclass(frozen=True)
class SandboxInfo:
    """What a client needs to talk to the sandbox; printed by `change-connector sandbox`."""

    jira_url: str
    servicenow_url: str
    ca_bundle: str
    mode: str
    requests_url: str
    webhook_secret: str
    users: dict[str, dict[str, str]]  # login -> jira_user, servicenow_user, token, roles
    # Jira custom field name -> id: allocated per instance from its random seed
    jira_fields: dict[str, str]
    # The chat receivers: slack, teams and webhook URLs, webhook_secret, the log's URL
    chat: dict[str, str] = field(default_factory=dict)
    # GitLab: its root URL (python-gitlab's `url`) and each user's personal access token
    gitlab_url: str = ""
    gitlab_tokens: dict[str, str] = field(default_factory=dict)
    # The GitHub App: api_url, app_id, installation_id, private_key_path, webhook_secret, repos
    github: dict[str, Any] = field(default_factory=dict)

    def jira_field_id(self, name: str) -> str:
        """The id of this sandbox's Jira custom field `name` ("Change risk" -> customfield_N)."""
        try:
            return self.jira_fields[name]
        except KeyError:
            raise KeyError(f"the Jira sandbox has no custom field named {name!r}") from None

    def as_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def credentials(self, login: str, system: str = "jira") -> tuple[str, str]:
        user = self.users[login]
        return (user["jira_user"] if system == "jira" else user["servicenow_user"], user["token"])


class Sandbox:
    """A running sandbox: `with Sandbox(options) as info: ...` or start()/stop()."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.state = SandboxState(options)
        self.tls = ensure_tls(options.data_dir)
        self._socket = _bind(options.port)
        port = self._socket.getsockname()[1]
        self.base_url = f"https://127.0.0.1:{port}"
        self.webhooks = WebhookDispatcher(
            ca_bundle=self.tls.ca_cert,
            duplicate_rate=options.webhook_duplicate_rate,
            rng=random.Random(f"webhooks:{options.random_seed}"),
        )
        self.jira = JiraSimulator(
            self.state, base_url=f"{self.base_url}/jira", webhooks=self.webhooks
        )
        self.servicenow = ServiceNowSimulator(
            self.state, base_url=f"{self.base_url}/servicenow", webhooks=self.webhooks
        )
        self.jira.seed(
            generate(
                options.seed_count, random_seed=options.random_seed, base_time=options.base_time
            )
        )
        self.servicenow.seed(
            generate(
                options.seed_count, random_seed=options.random_seed + 1, base_time=options.base_time
            )
        )
        # GitLab sends each event once and does not retry a failed delivery by itself.
        self.gitlab_webhooks = WebhookDispatcher(
            ca_bundle=self.tls.ca_cert, duplicate_rate=0.0, retry=False
        )
        self.gitlab = GitLabSimulator(
            self.state, base_url=f"{self.base_url}/gitlab", webhooks=self.gitlab_webhooks
        )
        self.chat = _chat(options.random_seed)
        self.github_webhooks = WebhookDispatcher(
            ca_bundle=self.tls.ca_cert, duplicate_rate=0.0, retry=False
        )
        self.github = GitHubSimulator(
            self.state,
            base_url=f"{self.base_url}/github",
            dispatcher=self.github_webhooks,
            secret=hashlib.sha256(f"sandbox-github:{options.random_seed}".encode()).hexdigest()[
                :40
            ],
        )
        self.app = build_app(
            self.state,
            jira=self.jira,
            servicenow=self.servicenow,
            chat=self.chat,
            gitlab=self.gitlab,
            github=self.github,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def jira_field_id(self, name: str) -> str:
        """The id of this sandbox's Jira custom field `name` ("Change risk" -> customfield_N)."""
        return self.jira.fields.id_of(name)

    @property
    def chat_urls(self) -> dict[str, str]:
        """The chat webhooks' URLs (slack, teams, webhook), webhook_secret, and the log's URL."""
        return self.chat.urls(self.base_url)

    def delete_jira_issue(self, key: str, *, actor: str = "admin") -> None:
        """Delete a Jira issue as the site admin would (issue_deleted webhook, 404 after)."""
        self.jira.delete(key, actor)

    @property
    def info(self) -> SandboxInfo:
        cloud = self.options.mode == "cloud"
        return SandboxInfo(
            jira_url=f"{self.base_url}/jira",
            servicenow_url=f"{self.base_url}/servicenow",
            ca_bundle=str(self.tls.ca_cert),
            mode=self.options.mode,
            requests_url=f"{self.base_url}/_sandbox/requests",
            webhook_secret=self.options.webhook_secret,
            users={
                u.login: {
                    "jira_user": u.email if cloud else u.login,
                    "servicenow_user": u.login,
                    "token": u.token,
                    "roles": ",".join(u.roles),
                    "servicenow_roles": ",".join(SERVICENOW_ROLES.get(u.login, ())),
                }
                for u in USERS
            },
            jira_fields=dict(self.jira.fields.custom_ids),
            chat=self.chat_urls,
            gitlab_url=f"{self.base_url}/gitlab",
            gitlab_tokens={u.username: u.token for u in self.gitlab.users()},
            github=self.github.app_info(),
        )

    def start(self) -> SandboxInfo:
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(self.tls.server_cert),
            ssl_keyfile=str(self.tls.server_key),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            # The standard event loop: the sandbox is stopped and started many times in one
            # process (tests), and uvloop leaves transports of cut connections unreported.
            loop="asyncio",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(self._server),),
            daemon=True,
            name="sandbox-server",
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
        self.webhooks.start()
        self.gitlab_webhooks.start()
        self.github_webhooks.start()
        return self.info

    async def _serve(self, server: uvicorn.Server) -> None:
        await server.serve(sockets=[self._socket])
        # Connections still open here (mid-request at a forced exit, or in a TLS close that
        # waits for the peer) would outlive the loop: abort them while it still runs rather
        # than leave their sockets to the garbage collector.
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await asyncio.sleep(0.05)

    def serve_forever(self) -> None:
        """Block until the server stops (Ctrl-C in the foreground command)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(0.5)

    def stop(self) -> None:
        self.webhooks.stop()
        self.gitlab_webhooks.stop()
        self.github_webhooks.stop()
        if self._server is not None:
            # Clients may still hold keep-alive connections; a test server need not wait.
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietDrops(logging.Filter):
    """Injected connection drops are the point, not an error worth a traceback in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ConnectionResetError) and "sandbox fault" in str(exc):
            return False
        # Idle keep-alive connections at shutdown are not an error of a local test server.
        return not record.getMessage().startswith("Cancel 0 running task")


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: a response written in several pieces must not wait for
    # the client's delayed ACK (40 ms a request on loopback otherwise).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _chat(seed: int) -> ChatSimulator:
    def token(what: str, n: int) -> str:
        return hashlib.sha256(f"sandbox-chat:{what}:{seed}".encode()).hexdigest()[:n]

    return ChatSimulator(
        slack_path=f"services/T{token('team', 8).upper()}/B{token('bot', 10).upper()}/"
        f"{token('slack', 24)}",
        teams_flow=token("flow", 32),
        teams_sig=token("sig", 43),
        webhook_secret=token("webhook", 32),
    )


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
        system = system if system in ("jira", "servicenow", "gitlab") else "sandbox"
        system = system if system in ("jira", "servicenow", "github") else "sandbox"
        status_box = [0]
        logged = [False]
        started = time.time()

        def log() -> None:
            if not logged[0]:
                logged[0] = True
                user = scope["state"].get("sandbox_user")
                self.state.record(
                    RequestRecord(
                        scope["method"], path, status_box[0], user, system, started=started
                    )
                )

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
                await self.app(scope, receive, send_logged)
            elif rule.kind == "drop":
                if rule.applied:  # carry the request out, swallow its answer, then cut
                    await self.app(scope, receive, _swallow)
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

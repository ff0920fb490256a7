"""Request plumbing of the Jira simulator: Basic auth, JSON errors, one lock per request.

Every route is a plain function `handler(ctx) -> dict | list | Response | None` wrapped by
`endpoint()`, which authenticates the caller like Jira (Cloud: email + API token; Data
Center: user name + password/token), records who called for the request log, parses the
JSON body, runs the handler under the sandbox lock and turns `JiraError`/`EditError` into
Jira's `{"errorMessages": [...], "errors": {...}}` bodies.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from connector.sandbox.catalog import SandboxUser
from connector.sandbox.jira.edits import EditError
from connector.sandbox.jira.render import View
from connector.sandbox.state import SandboxState, basic_auth_user

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."


class JiraError(Exception):
    def __init__(
        self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {messages or errors}")
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"errorMessages": self.messages, "errors": self.errors}, status_code=self.status
        )


@dataclass
class Ctx:
    request: Request
    user: SandboxUser
    view: View
    body: Any

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def params(self, name: str) -> list[str]:
        return self.request.query_params.getlist(name)

    def int_param(self, name: str, default: int) -> int:
        raw = self.param(name)
        try:
            return default if raw in (None, "") else int(str(raw))
        except ValueError:
            raise JiraError(400, [f"The value '{raw}' is invalid for parameter {name}."]) from None


Handler = Callable[[Ctx], Any]


def endpoint(
    state: SandboxState, base_url: str, version: str, handler: Handler, status: int = 200
) -> Callable[[Request], Awaitable[Response]]:
    cloud = state.options.mode == "cloud"

    async def run(request: Request) -> Response:
        user = basic_auth_user(
            request.headers.get("authorization"), login_field="email" if cloud else "login"
        )
        if user is None:
            return JiraError(401, [NOT_AUTHENTICATED]).response()
        request.state.sandbox_user = user.login
        try:
            body = await _body(request)
            ctx = Ctx(request, user, View(base_url, version, cloud, ZoneInfo(user.time_zone)), body)
            with state.lock:
                result = handler(ctx)
        except JiraError as exc:
            return exc.response()
        except EditError as exc:
            return JiraError(400, exc.messages, exc.errors).response()
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result, status_code=status)

    return run


async def _body(request: Request) -> Any:
    if request.method not in ("POST", "PUT"):
        return None
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise JiraError(
            400, ["Unexpected character in the request body: not valid JSON."]
        ) from None

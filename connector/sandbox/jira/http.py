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

from connector.sandbox.catalog import SandboxUser, jira_permissions
from connector.sandbox.jira.edits import EditError
from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.render import View
from connector.sandbox.state import SandboxState, basic_auth_user

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
# What Jira answers a caller that lacks the permission a route needs (403).
REFUSED = {
    "ADMINISTER": "You are not authorized to perform this operation. Administer Jira global "
    "permission is required.",
    "CREATE_ISSUES": "You do not have permission to create issues in this project.",
    "DELETE_ISSUES": "You do not have permission to delete issues in this project.",
    "EDIT_ISSUES": "You do not have permission to edit issues in this project.",
    "TRANSITION_ISSUES": "You do not have permission to transition this issue.",
    "ADD_COMMENTS": "You do not have permission to comment on this issue.",
}


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

    def allowed(self, permission: str) -> bool:
        return permission in jira_permissions(self.user)

    def require(self, permission: str) -> None:
        if not self.allowed(permission):
            raise JiraError(403, [REFUSED[permission]])

    def int_param(self, name: str, default: int) -> int:
        raw = self.param(name)
        try:
            return default if raw in (None, "") else int(str(raw))
        except ValueError:
            raise JiraError(400, [f"The value '{raw}' is invalid for parameter {name}."]) from None


Handler = Callable[[Ctx], Any]


def endpoint(
    state: SandboxState,
    base_url: str,
    version: str,
    handler: Handler,
    status: int = 200,
    *,
    fs: FieldSet,
    permission: str | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """The route; `permission` is the one the caller must hold (403 otherwise, as in Jira)."""
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
            view = View(base_url, version, cloud, ZoneInfo(user.time_zone), fs)
            ctx = Ctx(request, user, view, body)
            if permission is not None:
                ctx.require(permission)
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

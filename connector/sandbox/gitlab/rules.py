"""The GitLab simulator's rules and plumbing: when GitLab refuses an approval (in the order of
Deployments::ApprovalService#validate, with its messages), its error bodies, paging headers and
request bodies (JSON or form), and who a request's token authenticates.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from connector.sandbox.gitlab.model import APPROVER_ROLES, GITLAB_USERS, Deployment, GitLabUser

NOT_WAITING = "This deployment is not waiting for approvals."
OWN_DEPLOYMENT = (
    "You cannot approve your own deployment. This configuration can be adjusted in the "
    "protected environment settings."
)
NO_PERMISSION = (
    "You don't have permission to approve this deployment. Contact the project or group owner "
    "for help."
)


class GitLabError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def refusal(deployment: Deployment, user: GitLabUser, status: str) -> str | None:
    """Deployments::ApprovalService#validate, in its order."""
    if not deployment.environment.protected:
        return "This environment is not protected."
    if deployment.environment.required_approvals <= 0:
        return "Deployment approvals is not configured for this environment."
    if user.role not in APPROVER_ROLES:
        return NO_PERMISSION
    if deployment.status != "blocked":
        return NOT_WAITING
    if deployment.user is user and status == "approved":
        return OWN_DEPLOYMENT
    return None


def unauthorized() -> JSONResponse:
    return JSONResponse({"message": "401 Unauthorized"}, status_code=401)


def number(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise GitLabError(400, {"error": f"{name} does not have a valid value"})
    return int(text)


def page_headers(
    url: str, params: Mapping[str, str], *, page: int, per_page: int, total: int
) -> dict[str, str]:
    pages = max(1, -(-total // per_page))
    rest = [(k, v) for k, v in params.items() if k not in ("page", "per_page")]

    def link(at: int, rel: str) -> str:
        return f'<{url}?{urlencode([("page", at), ("per_page", per_page), *rest])}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < pages:
        links.append(link(page + 1, "next"))
    links += [link(1, "first"), link(pages, "last")]
    return {
        "x-page": str(page),
        "x-per-page": str(per_page),
        "x-next-page": str(page + 1) if page < pages else "",
        "x-prev-page": str(page - 1) if page > 1 else "",
        "x-total": str(total),
        "x-total-pages": str(pages),
        "link": ", ".join(links),
    }


async def body_of(request: Request) -> dict[str, Any] | Response:
    """A JSON object or a form body (GitLab takes both), else 400."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return JSONResponse({"error": "400 Bad request"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "400 Bad request"}, status_code=400)
        return body
    return dict(parse_qsl(raw.decode("utf-8", "replace")))


def moment(params: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 date-time parameter (2019-03-15T08:00:00Z), or 400."""
    text = params.get(name)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GitLabError(400, {"error": f"{name} is invalid"}) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def authenticate(request: Request) -> GitLabUser | None:
    token = request.headers.get("private-token")
    if token is None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token:
        return None
    for user in GITLAB_USERS:
        if hmac.compare_digest(user.token.encode(), token.encode()):
            request.state.sandbox_user = user.username
            return user
    return None

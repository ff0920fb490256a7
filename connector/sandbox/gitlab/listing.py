"""The deployments list of the GitLab simulator: its parameters checked, filtered, ordered and
paged as GitLab's DeploymentsFinder does (an `updated_at` filter needs the `updated_at` order).

`GitLabSimulator` (gitlab/__init__.py) answers `GET /projects/:id/deployments` with it, under the
sandbox lock; a refused parameter raises `GitLabError` with GitLab's message.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import Response
from fastapi.responses import JSONResponse

from connector.sandbox.gitlab.model import Deployment, Project
from connector.sandbox.gitlab.rules import GitLabError, moment, number, page_headers

API = "/api/v4"
LIST_PARAMS = frozenset(
    {"order_by", "sort", "updated_after", "updated_before", "environment", "status"}
    | {"finished_after", "finished_before", "page", "per_page"}
)
STATUSES = ("created", "running", "success", "failed", "canceled", "blocked")


def deployments_page(
    deployments: Iterable[Deployment],
    *,
    found: Project,
    project: str,
    params: dict[str, str],
    base_url: str,
) -> Response:
    """One page of `found`'s deployments per `params` (`project` as the caller named it)."""
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise GitLabError(400, {"error": f"{unknown[0]} does not have a valid value"})
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise GitLabError(400, {"error": "status does not have a valid value"})
    page = number(params.get("page"), 1, "page")
    per_page = min(100, number(params.get("per_page"), 20, "per_page"))
    key = params.get("order_by", "id")
    if key not in ("id", "iid", "created_at", "updated_at", "finished_at", "ref"):
        raise GitLabError(400, {"error": "order_by does not have a valid value"})
    after, before = moment(params, "updated_after"), moment(params, "updated_before")
    if (after or before) and key != "updated_at":
        # DeploymentsFinder: an updated_at filter needs the updated_at order
        message = "400 Bad request - `updated_at` filter requires `updated_at` sort"
        raise GitLabError(400, {"message": message})
    rows = [
        d
        for d in deployments
        if d.project is found
        and (status is None or d.status == status)
        and params.get("environment") in (None, d.environment.name)
        and (after is None or d.updated_at > after)
        and (before is None or d.updated_at < before)
    ]
    rows.sort(key=lambda d: getattr(d, key if key != "finished_at" else "updated_at"))
    if params.get("sort", "asc") == "desc":
        rows.reverse()
    total = len(rows)
    chunk = rows[(page - 1) * per_page : page * per_page]
    headers = page_headers(
        f"{base_url}{API}/projects/{project.replace('/', '%2F')}/deployments",
        params,
        page=page,
        per_page=per_page,
        total=total,
    )
    return JSONResponse([d.api(base_url) for d in chunk], headers=headers)

"""Jira Cloud's bulk property write and the asynchronous task that carries it out.

- `POST /issue/properties/multi` ("Bulk set issue properties by issue", Cloud only): up to 100
  issues, each with 1 to 10 properties of its own (`MultiIssueEntityProperties`: `issues[]` of
  `{issueID, properties}`, no other keys), values up to 32768 bytes. A malformed body is a 400
  and writes nothing; otherwise the answer is 303 with the task's `Location` and no body. The
  operation is non-transactional and Jira checks Browse projects + Edit issues per issue, so an
  issue the caller may not edit, or one that does not exist, fails alone in the task's result.
- `GET /task/{taskId}`: the `TaskProgressBeanObject` (status ENQUEUED, RUNNING, COMPLETE, ...),
  for the task's creator or a Jira administrator (403 for anyone else, 404 for an unknown id).

Asynchronous as in Jira: nothing is written when the POST is answered. The task runs when it
is polled after `SandboxOptions.jira_task_polls` answers that say it is still queued or running
(0: the first poll finds it complete), so a client that posts a comment before its task says
COMPLETE finds no marker written. Jira documents that failures are in the task's `result` but
not its shape; the sandbox's is `{"issues": [{"issueID": 10001, "status": "SUCCESS"},
{"issueID": 10002, "status": "FAILED", "errorMessages": [...]}]}`, one entry per issue asked.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Response

from connector.sandbox.catalog import USERS_BY_LOGIN, jira_permissions
from connector.sandbox.jira.http import NO_ISSUE, REFUSED, Ctx, JiraError
from connector.sandbox.jira.routes_properties import check_size

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

MULTI_ISSUES_MAX = 100
MULTI_PROPERTIES_MAX = 10
_ISSUE_KEYS = {"issueID", "properties"}


@dataclass
class Task:
    id: str
    owner: str  # the caller's login: only they (or an administrator) may read it
    submitted_by: int
    submitted: int  # ms
    work: list[tuple[int, dict[str, Any]]]  # (issue id, properties), in the order asked
    polls: int = 0
    status: str = "ENQUEUED"
    started: int | None = None
    finished: int | None = None
    result: dict[str, Any] | None = None


@dataclass
class Tasks:
    by_id: dict[str, Task] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10000))


def register(sim: JiraSimulator, version: str) -> None:
    if not sim.cloud:
        return  # Data Center documents neither route
    sim.route("POST", version, "/issue/properties/multi", lambda ctx: bulk_set(sim, ctx))
    sim.route("GET", version, "/task/{taskId}", lambda ctx: get_task(sim, ctx))


def _malformed(why: str) -> JiraError:
    return JiraError(400, [why])


def parse_multi(body: Any) -> list[tuple[int, dict[str, Any]]]:
    """The (issue id, properties) a bulk body asks for, or a 400 naming what is wrong."""
    if not isinstance(body, dict) or set(body) != {"issues"}:
        raise _malformed("The request body must be an object with one field, 'issues'.")
    issues = body["issues"]
    if not isinstance(issues, list) or not issues:
        raise _malformed("'issues' must be a non-empty list.")
    if len(issues) > MULTI_ISSUES_MAX:
        raise _malformed(f"At most {MULTI_ISSUES_MAX} issues can be updated in one request.")
    work: list[tuple[int, dict[str, Any]]] = []
    for item in issues:
        if not isinstance(item, dict) or not set(item) <= _ISSUE_KEYS:
            raise _malformed("Each issue must be an object with 'issueID' and 'properties'.")
        issue_id, properties = item.get("issueID"), item.get("properties")
        if isinstance(issue_id, bool) or not isinstance(issue_id, int):
            raise _malformed("'issueID' must be an integer.")
        if not isinstance(properties, dict) or not properties:
            raise _malformed(f"Issue {issue_id}: 'properties' must be a non-empty object.")
        if len(properties) > MULTI_PROPERTIES_MAX:
            raise _malformed(
                f"Issue {issue_id}: at most {MULTI_PROPERTIES_MAX} properties can be set."
            )
        for key, value in properties.items():
            if not key or value is None:
                raise _malformed(f"Issue {issue_id}: a property needs a key and a JSON value.")
            check_size(key, value)
        work.append((issue_id, dict(properties)))
    return work


def bulk_set(sim: JiraSimulator, ctx: Ctx) -> Response:
    work = parse_multi(ctx.body)
    now = _ms(sim)
    task = Task(
        id=str(next(sim.tasks.ids)),
        owner=ctx.user.login,
        submitted_by=int(ctx.user.account_id[-12:], 16),
        submitted=now,
        work=work,
    )
    sim.tasks.by_id[task.id] = task
    return Response(status_code=303, headers={"Location": f"{ctx.view.api}/task/{task.id}"})


def get_task(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    task = sim.tasks.by_id.get(str(ctx.request.path_params["taskId"]))
    if task is None:
        raise JiraError(404, ["The task was not found."])
    if task.owner != ctx.user.login and not ctx.allowed("ADMINISTER"):
        raise JiraError(403, [REFUSED["ADMINISTER"]])
    if task.finished is None:
        task.polls += 1
        if task.polls > sim.state.options.jira_task_polls:
            _run(sim, task)
        elif task.polls > 1:
            task.status, task.started = "RUNNING", task.started or _ms(sim)
    return _task_json(sim, ctx, task)


def _run(sim: JiraSimulator, task: Task) -> None:
    """Carry the task out, issue by issue (non-transactional: each issue succeeds or fails
    alone), with its creator's permissions checked per issue."""
    task.started = task.started or _ms(sim)
    owner = USERS_BY_LOGIN.get(task.owner)
    granted = jira_permissions(owner) if owner is not None else frozenset()
    entries: list[dict[str, Any]] = []
    for issue_id, properties in task.work:
        issue = sim.store.issues.get(issue_id)
        if issue is None or "BROWSE_PROJECTS" not in granted:
            failure = NO_ISSUE
        elif "EDIT_ISSUES" not in granted:
            failure = REFUSED["EDIT_ISSUES"]
        else:
            issue.properties.update(properties)  # as a property PUT: no history, no `updated`
            entries.append({"issueID": issue_id, "status": "SUCCESS"})
            continue
        entries.append({"issueID": issue_id, "status": "FAILED", "errorMessages": [failure]})
    task.status, task.finished, task.result = "COMPLETE", _ms(sim), {"issues": entries}


def _task_json(sim: JiraSimulator, ctx: Ctx, task: Task) -> dict[str, Any]:
    done = task.finished is not None
    out: dict[str, Any] = {
        "self": f"{ctx.view.api}/task/{task.id}",
        "id": task.id,
        "description": "Bulk set issue properties by issue",
        "status": task.status,
        "submittedBy": task.submitted_by,
        "progress": 100 if done else 0,
        "elapsedRuntime": (task.finished or _ms(sim)) - (task.started or task.submitted),
        "submitted": task.submitted,
        "lastUpdate": task.finished or task.started or task.submitted,
    }
    if task.started is not None:
        out["started"] = task.started
    if done:
        out["finished"] = task.finished
        out["result"] = task.result
    return out


def _ms(sim: JiraSimulator) -> int:
    return int(sim.state.now().timestamp() * 1000)

"""Jira Cloud's bulk issue property write, as pure values: request bodies and task answers.

`POST /issue/properties/multi` ("Bulk set issue properties by issue") sets up to 10 properties
on each of up to 100 issues, each issue with its own values. It is asynchronous (303 with the
task's location; `GET /task/{id}` until the task ends) and non-transactional: some issues may
fail, which Jira documents as reported in the task's `result` without documenting its shape.
So an issue counts as set when its task ended COMPLETE and the result reports no failure: no
result at all (nothing to report), or a result naming that issue as set (an entry
`{"issueID": <id>, "status": "SUCCESS"}` in its `issues`). Any other answer (a result of
another shape, which may hold failures this code cannot read; a task that failed or was
cancelled; an issue a per-issue result leaves out, as Jira does with an issue it cannot find)
leaves the issue unconfirmed, and the caller writes it alone.
A site that answers in another shape costs the per-issue requests, never a marker taken as
written that its task reports failed. Jira runs tasks in no guaranteed order, so the caller
waits for each task to end before the next write on its issues; a task still running after
the adapter's wait (`TASK_WAIT_SECONDS`, a minute) is given up, and its write could then land
after a later one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

MAX_ISSUES = 100  # documented: issues in one request
MAX_PROPERTIES = 10  # documented: properties on one issue in one request

#: Task statuses after which nothing more happens (CANCEL_REQUESTED may still run on).
FINAL = frozenset({"COMPLETE", "FAILED", "CANCELLED", "DEAD"})

Values = Mapping[str, Mapping[str, Any]]  # issue id -> property key -> value


def bodies(values: Values) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """The request bodies that set `values`, at most `MAX_ISSUES` issues each, with the issue
    ids each one carries. Issue ids are Jira's numeric ids (the body takes int64)."""
    items = list(values.items())
    for issue_id, properties in items:
        if not issue_id.isdigit():
            raise ValueError(f"not a Jira issue id: {issue_id!r}")
        if not 1 <= len(properties) <= MAX_PROPERTIES:
            raise ValueError(f"issue {issue_id}: 1 to {MAX_PROPERTIES} properties a request")
    for start in range(0, len(items), MAX_ISSUES):
        chunk = items[start : start + MAX_ISSUES]
        yield (
            [issue_id for issue_id, _ in chunk],
            {
                "issues": [
                    {"issueID": int(issue_id), "properties": dict(properties)}
                    for issue_id, properties in chunk
                ]
            },
        )


def task_path(location: str) -> str:
    """The REST path (under `/rest/api/<version>/`) of the task a 303's `Location` names."""
    path = urlsplit(location).path.rstrip("/")
    _, sep, task_id = path.rpartition("/task/")
    if not sep or not task_id or "/" in task_id:
        raise ValueError(f"not a task location: {location!r}")
    return f"task/{task_id}"


def finished(task: Any) -> bool:
    """Whether the task (`TaskProgressBeanObject`) has ended, successfully or not."""
    return isinstance(task, dict) and task.get("status") in FINAL


def confirmed(task: Any, asked: list[str]) -> set[str]:
    """The issues among `asked` the ended task reports as set (see the module docstring)."""
    if not isinstance(task, dict) or task.get("status") != "COMPLETE":
        return set()
    result = task.get("result")
    if result is None or result == {} or result == [] or result == "":
        return set(asked)  # Jira reports failures in the result: none reported
    entries = result.get("issues") if isinstance(result, dict) else None
    if not isinstance(entries, list):
        return set()
    wanted = set(asked)
    return {
        str(entry["issueID"])
        for entry in entries
        if isinstance(entry, dict)
        and entry.get("status") == "SUCCESS"
        and str(entry.get("issueID")) in wanted
    }

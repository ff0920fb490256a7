"""Deployment evidence moves the change on: a successful, authorized deploy of a change still
approved or scheduled moves it as the mapping's optional `deployed` action says (e.g. Jira's
"Start implementation", ServiceNow's Implement state). Without that action nothing moves.

Run by the worker after deployments are recorded (on its gate timer): the move is planned and
applied like any other worker action (pipeline -> ledger -> executor), with the deterministic
keys and markers that make it happen once; a change already implementing is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from connector.core.mapping import WorkerAction
from connector.core.model import Change, Status
from connector.settings import Settings
from connector.store import Store
from connector.sync.poller import PollStats, settle
from connector.sync.runtime import SourceRuntime

DUE = {Status.APPROVED, Status.SCHEDULED}


def move_deployed(
    *,
    store: Store,
    settings: Settings,
    runtimes: Mapping[str, SourceRuntime],
    worker: str,
    since: datetime,
) -> list[tuple[str, str]]:
    """(source, key) of the changes moved on by their deployments started since `since`."""
    wanted: dict[str, set[str]] = {}
    for d in store.deployments(since=since):
        if d.outcome == "success" and not d.unauthorized and d.change_key and d.change_source:
            wanted.setdefault(d.change_source, set()).add(d.change_key)
    moved: list[tuple[str, str]] = []
    for source, keys in sorted(wanted.items()):
        rt = runtimes.get(source)
        if rt is None or rt.mapping.action(WorkerAction.DEPLOYED) is None:
            continue
        rows = store.stored_changes(source, sorted(keys))
        due = sorted(k for k, row in rows.items() if Change.from_json(row.data).status in DUE)
        if not due:
            continue
        pipeline = rt.pipeline()
        step = (WorkerAction.DEPLOYED.value,)
        pipeline.reevaluate(due, extra_steps={key: step for key in due})
        executor = rt.executor(worker=worker, lease_seconds=settings.worker.lease_seconds)
        executor.only = lambda ticket, _action, chosen=frozenset(due): ticket in chosen
        executor.apply_pending(source)
        settle(rt, pipeline, executor, PollStats(source=source))
        moved += [(source, key) for key in due]
    return moved

"""The change workflow: which transitions an issue offers and what performing one does.

Transitions come from catalog.JIRA_WORKFLOW and depend on the current status; an id not
offered from it is a 400, and transitions into a done status require a resolution. Entering
a done status sets `resolution`/`resolutiondate`; leaving one clears them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.sandbox.catalog import JIRA_RESOLUTIONS, JIRA_STATUSES, JIRA_WORKFLOW, Transition
from connector.sandbox.jira import render
from connector.sandbox.jira.edits import EditError, plan_edit
from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.store import Issue


def available(issue: Issue) -> list[Transition]:
    return [
        t
        for t in JIRA_WORKFLOW
        if (not t.from_statuses or issue.status in t.from_statuses) and t.to_status != issue.status
    ]


def transition_json(t: Transition, view: render.View, with_fields: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "to": render.status(t.to_status, view),
        "hasScreen": t.requires_resolution,
        "isGlobal": not t.from_statuses,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }
    if with_fields:
        out["fields"] = {"resolution": _resolution_meta(view)} if t.requires_resolution else {}
    return out


def _resolution_meta(view: render.View) -> dict[str, Any]:
    return {
        "required": True,
        "schema": {"type": "resolution", "system": "resolution"},
        "name": "Resolution",
        "key": "resolution",
        "hasDefaultValue": False,
        "operations": ["set"],
        "allowedValues": resolution_values(view),
    }


def resolution_values(view: render.View) -> list[dict[str, Any]]:
    return [
        {"self": f"{view.api}/resolution/{rid}", "id": rid, "name": name}
        for rid, name in JIRA_RESOLUTIONS
    ]


def plan(
    issue: Issue, body: dict[str, Any], *, version: str, cloud: bool, fs: FieldSet
) -> tuple[Transition, dict[str, Any]]:
    """The transition asked for and the field values it writes; raises EditError (400)."""
    raw_id = str((body.get("transition") or {}).get("id", ""))
    transition = next((t for t in available(issue) if t.id == raw_id), None)
    if transition is None:
        raise EditError({}, [f"Transition id '{raw_id}' is not valid for this issue."])
    allowed = {"resolution"} if transition.requires_resolution else set()
    edit = {
        "fields": body.get("fields") or {},
        "update": {k: v for k, v in (body.get("update") or {}).items() if k != "comment"},
    }
    new = plan_edit(issue, edit, version=version, cloud=cloud, fs=fs, allowed=allowed)
    if transition.requires_resolution and not new.get("resolution"):
        raise EditError({"resolution": "Resolution is required."})
    return transition, new


def target_values(transition: Transition, new: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Every field the transition writes: status, and resolution set or cleared."""
    done = JIRA_STATUSES[transition.to_status][1] == "done"
    return {
        **new,
        "status": transition.to_status,
        "resolution": new.get("resolution") if done else None,
        "resolutiondate": now if done else None,
    }

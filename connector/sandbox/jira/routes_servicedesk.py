"""Jira Service Management approval routes: list a request's approvals and answer one.

    GET  /rest/servicedeskapi/request/{issueIdOrKey}/approval
    POST /rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}  {"decision": ...}

As in JSM, only an approver of the approval may answer it ("approve" or "decline"), an answered
approval cannot be answered again, and the answer is recorded on the issue (its Approvals field,
its history and `updated`), which fires jira:issue_updated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.sandbox.jira import render
from connector.sandbox.jira.http import Ctx, JiraError
from connector.sandbox.jira.routes_issues import find
from connector.sandbox.jira.store import ChangeItem

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

DECISIONS = {"approve": "approved", "decline": "declined"}


def register(sim: JiraSimulator) -> None:
    base = "/rest/servicedeskapi/request/{issueIdOrKey}/approval"
    sim.route_at("GET", base, lambda ctx: list_approvals(sim, ctx))
    sim.route_at("POST", base + "/{approvalId}", lambda ctx: answer(sim, ctx))


def list_approvals(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    field = ctx.view.fs.id_of("Approvals")
    values = [render.approval(a, ctx.view) for a in issue.fields.get(field) or []]
    return {
        "size": len(values),
        "start": 0,
        "limit": 50,
        "isLastPage": True,
        "values": values,
    }


def answer(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    wanted = str(ctx.request.path_params["approvalId"])
    field = ctx.view.fs.id_of("Approvals")
    approvals = issue.fields.get(field) or []
    approval = next((a for a in approvals if str(a.id) == wanted), None)
    if approval is None:
        raise JiraError(404, [f"The approval with id {wanted} does not exist."])
    if approval.approver != ctx.user.login:
        raise JiraError(403, ["You are not an approver of this approval."])
    if approval.decision != "pending":
        raise JiraError(400, ["This approval has already been answered."])
    decision = DECISIONS.get(str((ctx.body or {}).get("decision", "")).lower())
    if decision is None:
        raise JiraError(400, ["The decision must be 'approve' or 'decline'."])
    approval.decision = decision
    approval.completed = sim.state.now()
    item = ChangeItem("Approvals", field, "custom", None, "pending", str(approval.id), decision)
    sim.commit(issue, ctx.user.login, [item], "issue_generic")
    return render.approval(approval, ctx.view)

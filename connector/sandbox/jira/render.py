"""Canonical records -> the JSON Jira serves, per API version, deployment mode and caller.

`View` is who asks and how: v2 serves wiki text, v3 ADF; Cloud users carry `accountId`,
Data Center users `name`/`key`; timestamps are written in the calling user's time zone as
Jira does (`2026-11-21T02:00:00.000-0800`). The value shapes are docs/raw-shapes.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.sandbox.catalog import (
    JIRA_ISSUE_TYPES,
    JIRA_PROJECTS,
    JIRA_RESOLUTIONS,
    JIRA_STATUSES,
    RELEASES,
    USERS,
    USERS_BY_LOGIN,
)
from connector.sandbox.jira import adf
from connector.sandbox.jira.fieldset import (
    APPROVALS,
    DATETIME,
    NUMBER,
    OPTION,
    OPTIONS,
    TEXT,
    USER,
    FieldSet,
)
from connector.sandbox.jira.store import Approval, Comment, History, Issue

PROJECT_IDS = {key: pid for key, _, pid in JIRA_PROJECTS}
PROJECT_NAMES = {key: name for key, name, _ in JIRA_PROJECTS}
ISSUE_TYPE_IDS = {name: tid for tid, name in JIRA_ISSUE_TYPES}
RESOLUTION_IDS = {name: rid for rid, name in JIRA_RESOLUTIONS}
VERSION_IDS = {name: str(10500 + i) for i, name in enumerate(RELEASES)}
_CATEGORIES = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
_USER_NUMBER = {u.login: n for n, u in enumerate(USERS, start=1)}
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


@dataclass(frozen=True)
class View:
    base_url: str  # .../jira
    version: str  # "2" | "3"
    cloud: bool
    tz: ZoneInfo
    fs: FieldSet  # the site's fields

    @property
    def api(self) -> str:
        return f"{self.base_url}/rest/api/{self.version}"


def timestamp(when: datetime | None, tz: ZoneInfo) -> str | None:
    if when is None:
        return None
    local = when.astimezone(tz)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + local.strftime("%z")
    )


def user(login: str | None, view: View) -> dict[str, Any] | None:
    if login is None:
        return None
    u = USERS_BY_LOGIN[login]
    out: dict[str, Any] = {}
    if view.cloud:
        out = {
            "self": f"{view.api}/user?accountId={u.account_id}",
            "accountId": u.account_id,
            "accountType": "atlassian",
        }
    else:
        out = {
            "self": f"{view.api}/user?username={u.login}",
            "name": u.login,
            "key": f"JIRAUSER{10000 + _USER_NUMBER[login]}",
        }
    out.update(
        {
            "emailAddress": u.email,
            "avatarUrls": _avatars(view, u.account_id),
            "displayName": u.display_name,
            "active": True,
            "timeZone": u.time_zone,
        }
    )
    return out


def _avatars(view: View, seed: str) -> dict[str, str]:
    return {
        f"{s}x{s}": f"{view.base_url}/secure/useravatar?size={s}&owner={seed}"
        for s in (48, 24, 16, 32)
    }


def status(name: str, view: View) -> dict[str, Any]:
    sid, category = JIRA_STATUSES[name]
    cid, cname, color = _CATEGORIES[category]
    return {
        "self": f"{view.api}/status/{sid}",
        "description": "",
        "iconUrl": f"{view.base_url}/images/icons/statuses/generic.png",
        "name": name,
        "id": sid,
        "statusCategory": {
            "self": f"{view.api}/statuscategory/{cid}",
            "id": cid,
            "key": category,
            "colorName": color,
            "name": cname,
        },
    }


def issuetype(name: str, view: View) -> dict[str, Any]:
    tid = ISSUE_TYPE_IDS[name]
    return {
        "self": f"{view.api}/issuetype/{tid}",
        "id": tid,
        "description": "A change.",
        "iconUrl": f"{view.base_url}/images/icons/issuetypes/change.svg",
        "name": name,
        "subtask": False,
        "avatarId": 10300,
        "hierarchyLevel": 0,
    }


def project_ref(key: str, view: View) -> dict[str, Any]:
    pid = PROJECT_IDS[key]
    return {
        "self": f"{view.api}/project/{pid}",
        "id": pid,
        "key": key,
        "name": PROJECT_NAMES[key],
        "projectTypeKey": "service_desk",
        "simplified": False,
        "avatarUrls": _avatars(view, key),
    }


def version(name: str, view: View) -> dict[str, Any]:
    vid = VERSION_IDS[name]
    return {
        "self": f"{view.api}/version/{vid}",
        "id": vid,
        "description": "",
        "name": name,
        "archived": False,
        "released": False,
    }


def option(field_id: str, value: str | None, view: View) -> dict[str, Any] | None:
    if value is None:
        return None
    oid = view.fs.option_ids[field_id][value]
    return {"self": f"{view.api}/customFieldOption/{oid}", "value": value, "id": oid}


def text(value: str | None, view: View) -> Any:
    return adf.to_adf(value) if view.version == "3" else value


def approval_date(when: datetime, view: View) -> dict[str, Any]:
    local = when.astimezone(view.tz)
    return {
        "iso8601": local.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "jira": timestamp(when, view.tz),
        "friendly": local.strftime("%d/%b/%y %I:%M %p"),
        "epochMillis": int(when.timestamp() * 1000),
    }


def approval(a: Approval, view: View) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(a.id),
        "name": a.name,
        "finalDecision": a.decision,
        "canAnswerApproval": False,
        "approvers": [{"approver": user(a.approver, view), "approverDecision": a.decision}],
        "createdDate": approval_date(a.created, view),
    }
    if a.completed is not None:
        out["completedDate"] = approval_date(a.completed, view)
    return out


def field_value(issue: Issue, fid: str, view: View) -> Any:
    """One field of an issue, in the shape the API serves it."""
    value = issue.fields.get(fid)
    kind = view.fs[fid].kind
    if fid in _SYSTEM_RENDERERS:
        return _SYSTEM_RENDERERS[fid](issue, view)
    if kind == OPTION:
        return option(fid, value, view)
    if kind == OPTIONS:
        return [option(fid, v, view) for v in value] if value else None
    if kind == TEXT:
        return text(value, view)
    if kind == NUMBER:
        return None if value is None else float(value)
    if kind == DATETIME:
        return timestamp(value, view.tz)
    if kind == USER:
        return user(value, view)
    if kind == APPROVALS:
        return [approval(a, view) for a in value] if value else []
    return value


_SYSTEM_RENDERERS: dict[str, Any] = {
    "issuetype": lambda i, v: issuetype(i.fields["issuetype"], v),
    "project": lambda i, v: project_ref(i.project, v),
    "status": lambda i, v: status(i.fields["status"], v),
    "priority": lambda i, v: {
        "self": f"{v.api}/priority/3",
        "name": i.fields["priority"],
        "id": "3",
        "iconUrl": f"{v.base_url}/images/icons/medium.svg",
    },
    "labels": lambda i, v: list(i.fields.get("labels") or []),
    "components": lambda i, v: [],
    "versions": lambda i, v: [],
    "issuelinks": lambda i, v: [],
    "subtasks": lambda i, v: [],
    "fixVersions": lambda i, v: [version(n, v) for n in i.fields.get("fixVersions") or []],
    "resolution": lambda i, v: (
        None
        if i.resolution is None
        else {
            "self": f"{v.api}/resolution/{RESOLUTION_IDS[i.resolution]}",
            "id": RESOLUTION_IDS[i.resolution],
            "description": "",
            "name": i.resolution,
        }
    ),
    "comment": lambda i, v: comment_page(i, v, 0, 5000) | {"self": f"{v.api}/issue/{i.id}/comment"},
}


def issue_json(issue: Issue, view: View, fields: list[str], expand: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "expand": ISSUE_EXPAND,
        "id": str(issue.id),
        "self": f"{view.api}/issue/{issue.id}",
        "key": issue.key,
        "fields": {fid: field_value(issue, fid, view) for fid in fields},
    }
    if "renderedFields" in expand:
        out["renderedFields"] = {
            fid: adf.to_html(issue.fields.get(fid))
            if view.fs[fid].kind == TEXT
            else out["fields"][fid]
            for fid in fields
        }
    if "names" in expand:
        out["names"] = names(fields, view.fs)
    if "schema" in expand:
        out["schema"] = schemas(fields, view.fs)
    if "changelog" in expand:
        out["changelog"] = changelog_page(issue, view)
    return out


def names(fields: list[str], fs: FieldSet) -> dict[str, str]:
    return {fid: fs[fid].name for fid in fields}


def schemas(fields: list[str], fs: FieldSet) -> dict[str, Any]:
    return {fid: fs[fid].schema for fid in fields if fs[fid].schema}


def comment_json(
    issue: Issue, c: Comment, view: View, *, rendered: bool = False, properties: bool = False
) -> dict[str, Any]:
    """A comment; `properties` only where Jira documents them (POST /comment/list)."""
    out: dict[str, Any] = {
        "self": f"{view.api}/issue/{issue.id}/comment/{c.id}",
        "id": str(c.id),
        "author": user(c.author, view),
        "body": text(c.body, view),
        "updateAuthor": user(c.update_author, view),
        "created": timestamp(c.created, view.tz),
        "updated": timestamp(c.updated, view.tz),
        "jsdPublic": c.jsd_public,
    }
    if rendered:  # `expand=renderedBody`, the one expand the comment endpoints document
        out["renderedBody"] = adf.to_html(c.body)
    if c.visibility:
        out["visibility"] = c.visibility
    if properties:
        out["properties"] = [{"key": p.get("key"), "value": p.get("value")} for p in c.properties]
    return out


def comment_page(
    issue: Issue, view: View, start: int, limit: int, *, rendered: bool = False
) -> dict[str, Any]:
    page = issue.comments[start : start + limit]
    return {
        "comments": [comment_json(issue, c, view, rendered=rendered) for c in page],
        "maxResults": limit,
        "total": len(issue.comments),
        "startAt": start,
    }


def change_item(item: Any, *, with_field_id: bool = True) -> dict[str, Any]:
    out = {"field": item.field, "fieldtype": item.fieldtype}
    if with_field_id:
        out["fieldId"] = item.field_id
    out.update(
        {
            "from": item.from_id,
            "fromString": item.from_string,
            "to": item.to_id,
            "toString": item.to_string,
        }
    )
    return out


def history_json(h: History, view: View) -> dict[str, Any]:
    return {
        "id": str(h.id),
        "author": user(h.author, view),
        "created": timestamp(h.created, view.tz),
        "items": [change_item(item) for item in h.items],
    }


def changelog_page(issue: Issue, view: View) -> dict[str, Any]:
    total = len(issue.histories)
    return {
        "startAt": 0,
        "maxResults": total,
        "total": total,
        "histories": [history_json(h, view) for h in issue.histories],
    }

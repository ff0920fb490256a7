"""Sites for the pure live-mapping tests, built from documented response shapes.

Jira: `FieldDetails` (GET /field), `IssueUpdateMetadata` (editmeta `allowedValues`),
`IssueTypeWithStatus` (project statuses) and `IssueTransition` (with `transitions.fields`),
shaped as Atlassian's OpenAPI describes them, for a JSM change project whose custom field ids
are not the sandbox's. ServiceNow: `sys_dictionary` and `sys_choice` rows as the Table API
returns them with `sysparm_display_value=false`.
"""

from __future__ import annotations

from typing import Any

from connector.core.mapping import site_read
from connector.core.mapping.site import Site

_PLUGIN = "com.atlassian.jira.plugin.system.customfieldtypes"


def _custom(fid: str, name: str, kind: str, custom: str, items: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind, "custom": f"{_PLUGIN}:{custom}", "customId": 1}
    if items:
        schema["items"] = items
    return {"id": fid, "key": fid, "name": name, "custom": True, "schema": schema}


def _system(fid: str, name: str, kind: str, items: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind, "system": fid}
    if items:
        schema["items"] = items
    return {"id": fid, "key": fid, "name": name, "custom": False, "schema": schema}


FIELDS: list[dict[str, Any]] = [
    _system("summary", "Summary", "string"),
    _system("description", "Description", "string"),
    _system("status", "Status", "status"),
    _system("resolution", "Resolution", "resolution"),
    _system("reporter", "Reporter", "user"),
    _system("assignee", "Assignee", "user"),
    _system("created", "Created", "datetime"),
    _system("updated", "Updated", "datetime"),
    _system("labels", "Labels", "array", "string"),
    _system("components", "Components", "array", "component"),
    _system("fixVersions", "Fix versions", "array", "version"),
    _system("issuelinks", "Linked Issues", "array", "issuelinks"),
    {
        "id": "customfield_10019",
        "key": "customfield_10019",
        "name": "Rank",
        "custom": True,
        "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-lexo-rank"},
    },
    _custom("customfield_10016", "Story point estimate", "number", "float"),
    _custom("customfield_10315", "Change type", "option", "select"),
    _custom("customfield_10316", "Change risk", "option", "select"),
    _custom("customfield_10317", "Impact", "option", "select"),
    _custom("customfield_10318", "Planned start", "datetime", "datetime"),
    _custom("customfield_10319", "Planned end", "datetime", "datetime"),
    _custom("customfield_10320", "Rollback plan", "string", "textarea"),
    _custom("customfield_10321", "Customer facing", "option", "radiobuttons"),
    _custom("customfield_10322", "Affected systems", "array", "multicheckboxes", "option"),
    _custom("customfield_10323", "Standard change template", "string", "textfield"),
    _custom("customfield_10324", "Test plan", "string", "textarea"),
    _custom("customfield_10325", "Test plan", "string", "textarea"),  # a second one
]

IMPACT = (
    "Extensive / Widespread",
    "Significant / Large",
    "Moderate / Limited",
    "Minor / Localized",
)
OPTIONS = {
    "customfield_10315": ("Standard", "Normal", "Emergency"),
    "customfield_10316": ("Low", "Medium", "High", "Critical"),
    "customfield_10317": (*IMPACT, "Catastrophic"),
    "customfield_10321": ("Yes", "No"),
    "customfield_10322": ("payments-api", "auth-service"),
}


def editmeta() -> dict[str, Any]:
    """`IssueUpdateMetadata` of a change: option fields list their `allowedValues`."""
    fields = {}
    for fid, values in OPTIONS.items():
        fields[fid] = {
            "required": False,
            "schema": next(f["schema"] for f in FIELDS if f["id"] == fid),
            "name": next(f["name"] for f in FIELDS if f["id"] == fid),
            "key": fid,
            "operations": ["set"],
            "allowedValues": [
                {"self": f"https://x/rest/api/2/customFieldOption/{n}", "value": v, "id": str(n)}
                for n, v in enumerate(values, start=10400)
            ],
        }
    return {"fields": fields}


CATEGORIES = {"new": "2", "indeterminate": "4", "done": "3"}
STATUSES = (
    ("Open", "new"),
    ("Awaiting approval", "indeterminate"),
    ("Needs information", "new"),
    ("Approved", "indeterminate"),
    ("Scheduled", "indeterminate"),
    ("Implementing", "indeterminate"),
    ("Completed", "done"),
    ("Declined", "done"),
    ("Canceled", "done"),
    ("Failed", "done"),
)


def status_details(name: str) -> dict[str, Any]:
    category = dict(STATUSES)[name]
    return {
        "self": "https://x/rest/api/2/status/1",
        "id": str(10000 + [s for s, _ in STATUSES].index(name)),
        "name": name,
        "description": "",
        "iconUrl": "https://x/images/icons/statuses/generic.png",
        "statusCategory": {"id": int(CATEGORIES[category]), "key": category, "name": category},
    }


def project_statuses() -> list[dict[str, Any]]:
    """`IssueTypeWithStatus` list of the change project (and a type that is not in scope)."""
    return [
        {
            "self": "https://x/rest/api/2/issuetype/10200",
            "id": "10200",
            "name": "Change",
            "subtask": False,
            "statuses": [status_details(name) for name, _ in STATUSES],
        },
        {
            "self": "https://x/rest/api/2/issuetype/10001",
            "id": "10001",
            "name": "Task",
            "subtask": False,
            "statuses": [status_details("Open")],
        },
    ]


RESOLUTIONS = ("Done", "Won't Do", "Declined", "Failed")
WORKFLOW = (  # name, to, from (empty: global), needs a resolution
    ("Submit", "Awaiting approval", ("Open", "Needs information"), False),
    ("Ask for information", "Needs information", ("Awaiting approval",), False),
    ("Approve", "Approved", ("Awaiting approval",), False),
    ("Decline", "Declined", ("Awaiting approval", "Needs information"), True),
    ("Schedule", "Scheduled", ("Approved",), False),
    ("Implement", "Implementing", ("Scheduled",), False),
    ("Complete", "Completed", ("Implementing",), True),
    ("Cancel", "Canceled", (), True),
)


def transitions_from(status: str) -> list[dict[str, Any]]:
    """`IssueTransition`s offered to an issue in `status`, with `expand=transitions.fields`."""
    out = []
    for n, (name, to, froms, needs) in enumerate(WORKFLOW):
        if (froms and status not in froms) or to == status:
            continue
        resolution = {
            "required": True,
            "schema": {"type": "resolution", "system": "resolution"},
            "name": "Resolution",
            "key": "resolution",
            "operations": ["set"],
            "allowedValues": [{"id": str(i), "name": r} for i, r in enumerate(RESOLUTIONS)],
        }
        out.append(
            {
                "id": str(11 + 10 * n),
                "name": name,
                "to": status_details(to),
                "hasScreen": needs,
                "isGlobal": not froms,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
                "fields": {"resolution": resolution} if needs else {},
            }
        )
    return out


def jira_site() -> Site:
    fields = site_read.jira_fields(FIELDS)
    options = site_read.editmeta_options(editmeta())
    seen = [t for s, _ in STATUSES for t in site_read.jira_transitions(s, transitions_from(s))]
    transitions = site_read.merge_transitions(seen)
    options["resolution"] = tuple(dict.fromkeys(r for t in transitions for r in t.resolutions))
    return Site(
        system="jira",
        projects=("CHG",),
        issue_types=("Change",),
        fields=tuple(f.model_copy(update={"options": options.get(f.id)}) for f in fields),
        statuses=site_read.jira_statuses(project_statuses(), ["Change"]),
        transitions=transitions,
        sampled=tuple(s for s, _ in STATUSES),
    )


# ---- ServiceNow ----------------------------------------------------------------------------

_COLUMNS = (  # table, element, internal_type, reference, label
    ("task", "short_description", "string", "", "Short description"),
    ("task", "description", "string", "", "Description"),
    ("task", "state", "integer", "", "State"),
    ("task", "impact", "integer", "", "Impact"),
    ("task", "approval", "string", "", "Approval"),
    ("task", "assigned_to", "reference", "sys_user", "Assigned to"),
    ("task", "cmdb_ci", "reference", "cmdb_ci", "Configuration item"),
    ("task", "sys_created_on", "glide_date_time", "", "Created"),
    ("task", "sys_updated_on", "glide_date_time", "", "Updated"),
    ("change_request", "type", "string", "", "Type"),
    ("change_request", "risk", "integer", "", "Risk"),
    ("change_request", "requested_by", "reference", "sys_user", "Requested by"),
    ("task", "opened_by", "reference", "sys_user", "Opened by"),
    ("change_request", "cab_recommendation", "string", "", "CAB recommendation"),
    ("change_request", "backout_plan", "string", "", "Backout plan"),
    ("change_request", "start_date", "glide_date_time", "", "Planned start date"),
    ("change_request", "end_date", "glide_date_time", "", "Planned end date"),
    ("change_request", "on_hold", "boolean", "", "On hold"),
    ("change_request", "close_code", "string", "", "Close code"),
    ("change_request", "close_notes", "string", "", "Close notes"),
    (
        "change_request",
        "std_change_producer_version",
        "reference",
        "std_change_producer_version",
        "Template",
    ),
    ("change_request", "u_customer_facing", "boolean", "", "Customer facing"),
)

_CHOICES = (  # table, element, value, label
    *(("task", "state", v, label) for v, label in (("1", "Open"), ("3", "Closed Complete"))),
    *(
        ("change_request", "state", v, label)
        for v, label in (
            ("-5", "New"),
            ("-4", "Assess"),
            ("-3", "Authorize"),
            ("-2", "Scheduled"),
            ("-1", "Implement"),
            ("0", "Review"),
            ("3", "Closed"),
            ("4", "Canceled"),
        )
    ),
    *(
        ("task", "impact", v, label)
        for v, label in (("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low"))
    ),
    *(
        ("change_request", "risk", v, label)
        for v, label in (("1", "Very High"), ("2", "High"), ("3", "Moderate"), ("4", "Low"))
    ),
    *(
        ("change_request", "type", v, v.title())
        for v in ("standard", "normal", "emergency", "expedited")
    ),
    *(
        ("task", "approval", v, v.title())
        for v in ("not requested", "requested", "approved", "rejected")
    ),
    *(
        ("change_request", "close_code", v, v.title())
        for v in ("successful", "successful_issues", "unsuccessful")
    ),
)


def dictionary_rows() -> list[dict[str, str]]:
    return [
        {"name": t, "element": e, "internal_type": k, "reference": r, "column_label": label}
        for t, e, k, r, label in _COLUMNS
    ]


def choice_rows() -> list[dict[str, str]]:
    return [
        {"name": t, "element": e, "value": v, "label": label, "inactive": "false"}
        for t, e, v, label in _CHOICES
    ]


def servicenow_site() -> Site:
    tables = ("change_request", "task")
    return Site(
        system="servicenow",
        table="change_request",
        fields=site_read.sn_fields(dictionary_rows(), choice_rows(), tables=tables),
    )

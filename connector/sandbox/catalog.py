"""What the sandbox instances are made of: users, the Jira change fields and workflow, the CIs.

This is the sandbox's equivalent of a Jira Service Management site's field configuration and
a ServiceNow instance's dictionary. Jira custom field ids are not here: each sandbox instance
numbers its fields from its random seed, as every real site numbers its own, so mappings name
Jira fields by name (`mappings/jira-default.toml`) and tests look ids up by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def sys_id_for(name: str) -> str:
    """A stable 32-hex ServiceNow sys_id for a sandbox record name."""
    return hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class SandboxUser:
    login: str  # Jira Data Center user name / ServiceNow user_name
    display_name: str
    email: str
    time_zone: str
    roles: tuple[str, ...]
    account_id: str  # Jira Cloud accountId
    sys_id: str  # ServiceNow sys_user.sys_id
    token: str  # API token (Jira) and password (ServiceNow) in the sandbox


def _user(
    login: str, name: str, tz: str, roles: tuple[str, ...], n: int, token: str
) -> SandboxUser:
    return SandboxUser(
        login=login,
        display_name=name,
        email=f"{login}@example.com",
        time_zone=tz,
        roles=roles,
        account_id=f"712020:{n:08x}-5c1e-4b7a-9d0e-{n:012x}",
        sys_id=sys_id_for(f"sys_user:{login}"),
        token=token,
    )


# The integration user sits in a time zone far from UTC on purpose: JQL date literals are read
# in the API user's zone, and a worker that forgets it misses tickets.
USERS: tuple[SandboxUser, ...] = (
    _user("alice", "Alice Moreau", "Europe/Paris", ("requester",), 1, "tok-alice-7Qm2"),
    _user("bob", "Bob Okafor", "America/New_York", ("requester", "implementer"), 2, "tok-bob-4Lx9"),
    _user("carol", "Carol Jensen", "Europe/Berlin", ("approver", "cab"), 3, "tok-carol-8Rt1"),
    _user("dave", "Dave Tanaka", "Asia/Tokyo", ("approver", "cab"), 4, "tok-dave-2Wp6"),
    _user("erin", "Erin Walsh", "Europe/Dublin", ("security-approver",), 5, "tok-erin-6Yh3"),
    _user(
        "frank", "Frank Silva", "America/Sao_Paulo", ("emergency-approver",), 6, "tok-frank-1Kd8"
    ),
    _user("admin", "Sandbox Admin", "UTC", ("admin",), 7, "tok-admin-9Zc5"),
    _user(
        "connector", "Change Connector", "America/Los_Angeles", ("integration",), 8, "tok-conn-3Vb7"
    ),
)
USERS_BY_LOGIN = {u.login: u for u in USERS}
INTEGRATION_USER = USERS_BY_LOGIN["connector"]

# ServiceNow roles per user (sys_user_has_role), checked by the simulator's ACLs
# (servicenow/acl.py says which role reads and writes what, with sources). `connector` is the
# least-privileged integration user: itil reads and updates change requests, their approvals,
# CIs and standard change templates (and their journal fields); personalize_dictionary reads
# the change table's dictionary for `mappings init --live`. No admin, no audit_viewer: the
# sys_journal_field table stays closed to it, as on a real instance.
SERVICENOW_ROLES: dict[str, tuple[str, ...]] = {
    "alice": ("itil",),
    "bob": ("itil",),
    "carol": ("itil", "approver_user"),
    "dave": ("itil", "approver_user"),
    "erin": ("approver_user",),
    "frank": ("approver_user",),
    "admin": ("admin",),
    "connector": ("itil", "personalize_dictionary"),
}


@dataclass(frozen=True)
class JiraField:
    """A custom field of the site. Its `customfield_NNNNN` id is allocated per sandbox instance
    (connector/sandbox/jira/fieldset.py), as every real site numbers its own."""

    name: str
    schema_type: str  # FieldDetails.schema.type: string, option, array, user, datetime, number
    custom: str  # FieldDetails.schema.custom plugin key
    items: str = ""  # FieldDetails.schema.items for arrays
    options: tuple[str, ...] = ()
    deployment: str = ""  # "cloud" / "datacenter": only on that deployment type; "" both
    editable: bool = True


_PLUGIN = "com.atlassian.jira.plugin.system.customfieldtypes"
_GH = "com.pyxis.greenhopper.jira"
_SD = "com.atlassian.servicedesk"

# The change fields of a Jira Service Management project created from the IT service
# management template, with JSM's own option values.
JSM_CHANGE_FIELDS: tuple[JiraField, ...] = (
    JiraField(
        "Change type", "option", f"{_PLUGIN}:select", options=("Standard", "Normal", "Emergency")
    ),
    JiraField(
        "Change risk", "option", f"{_PLUGIN}:select", options=("Low", "Medium", "High", "Critical")
    ),
    JiraField(
        "Change reason",
        "option",
        f"{_PLUGIN}:select",
        options=("Repair", "Upgrade", "Maintenance", "New functionality", "Other"),
    ),
    JiraField(
        "Impact",
        "option",
        f"{_PLUGIN}:select",
        options=(
            "Extensive / Widespread",
            "Significant / Large",
            "Moderate / Limited",
            "Minor / Localized",
        ),
    ),
    JiraField(
        "Urgency", "option", f"{_PLUGIN}:select", options=("Critical", "High", "Medium", "Low")
    ),
    JiraField("Change start date", "datetime", f"{_PLUGIN}:datetime"),
    JiraField("Change completion date", "datetime", f"{_PLUGIN}:datetime"),
    JiraField(
        "Affected services",
        "array",
        "com.atlassian.jira.plugins.service-entity:service-entity-field-cftype",
        items="service-entity-field",
        editable=False,
    ),
    JiraField("Approvals", "sd-approvals", f"{_SD}.approvals-plugin:sd-approvals", editable=False),
    JiraField("Approvers", "array", f"{_PLUGIN}:multiuserpicker", items="user", editable=False),
    JiraField(
        "Pending reason",
        "option",
        f"{_PLUGIN}:select",
        options=(
            "More info required",
            "Awaiting approval",
            "Waiting on vendor",
            "Pending on change request",
        ),
    ),
    JiraField("Request Type", "sd-customerrequesttype", f"{_SD}:vp-origin", editable=False),
)

# Fields this site's admin added to the change request type for the change policy.
ADMIN_CHANGE_FIELDS: tuple[JiraField, ...] = (
    # options are the CI names in CONFIGURATION_ITEMS
    JiraField("Affected systems", "array", f"{_PLUGIN}:multicheckboxes", items="option"),
    # options are DEPARTMENTS
    JiraField("Affected departments", "array", f"{_PLUGIN}:multiselect", items="option"),
    JiraField("Rollback plan", "string", f"{_PLUGIN}:textarea"),
    JiraField("Implementation plan", "string", f"{_PLUGIN}:textarea"),
    JiraField("Test plan", "string", f"{_PLUGIN}:textarea"),
    JiraField("Justification", "string", f"{_PLUGIN}:textarea"),
    JiraField(
        "Security impact", "option", f"{_PLUGIN}:select", options=("None", "Low", "Medium", "High")
    ),
    JiraField(
        "InfoSec categories",
        "array",
        f"{_PLUGIN}:multicheckboxes",
        items="option",
        options=("Data sharing", "Security configuration", "User access", "System usage"),
    ),
    JiraField("Security notes", "string", f"{_PLUGIN}:textarea"),
    JiraField("Operational impact", "string", f"{_PLUGIN}:textarea"),
    JiraField("Expected downtime (minutes)", "number", f"{_PLUGIN}:float"),
    JiraField("Customer facing", "option", f"{_PLUGIN}:radiobuttons", options=("Yes", "No")),
    JiraField(
        "Audiences",
        "array",
        f"{_PLUGIN}:multicheckboxes",
        items="option",
        options=("All users", "Admins", "Account owners", "Security", "Engineering"),
    ),
    JiraField("Actual start", "datetime", f"{_PLUGIN}:datetime"),
    JiraField("Actual end", "datetime", f"{_PLUGIN}:datetime"),
    JiraField("Implementer", "user", f"{_PLUGIN}:userpicker"),
    JiraField("Emergency approver", "user", f"{_PLUGIN}:userpicker"),
    JiraField(
        "CAB decision",
        "option",
        f"{_PLUGIN}:select",
        options=("Approve", "Reject", "Defer", "More information"),
    ),
    JiraField("Standard change template", "string", f"{_PLUGIN}:textfield"),
)

# Custom fields every real site carries whatever its projects (Jira Software, Advanced
# Roadmaps): a mapping that reads the wrong id reads one of these.
SITE_CUSTOM_FIELDS: tuple[JiraField, ...] = (
    JiraField("Rank", "string", f"{_GH}:gh-lexo-rank", editable=False),
    JiraField("Sprint", "array", f"{_GH}:gh-sprint", items="json", editable=False),
    JiraField("Start date", "date", f"{_PLUGIN}:datepicker"),
    JiraField(
        "Team",
        "team",
        f"{_PLUGIN}:atlassian-team",
        deployment="cloud",
        editable=False,
    ),
    JiraField(
        "Team",
        "any",
        "com.atlassian.teams:rm-teams-custom-field-team",
        deployment="datacenter",
        editable=False,
    ),
    JiraField("Story point estimate", "number", f"{_GH}:jsw-story-points", deployment="cloud"),
    JiraField("Story Points", "number", f"{_PLUGIN}:float"),
    JiraField("Epic Link", "any", f"{_GH}:gh-epic-link", deployment="datacenter", editable=False),
    JiraField(
        "Flagged", "array", f"{_PLUGIN}:multicheckboxes", items="option", options=("Impediment",)
    ),
)

JIRA_CUSTOM_FIELDS: tuple[JiraField, ...] = (
    *JSM_CHANGE_FIELDS,
    *ADMIN_CHANGE_FIELDS,
    *SITE_CUSTOM_FIELDS,
)

# The change projects' permission scheme (project permissions) plus the global Administer
# Jira, per user. `connector` is the least-privileged integration user: browse, comment (and
# edit its own comments), edit, transition and resolve; issue properties come with browse and
# edit. No create, no delete, no administration.
INTEGRATION_PERMISSIONS = frozenset(
    {
        "BROWSE_PROJECTS",
        "ADD_COMMENTS",
        "EDIT_OWN_COMMENTS",
        "EDIT_ISSUES",
        "TRANSITION_ISSUES",
        "RESOLVE_ISSUES",
    }
)
AGENT_PERMISSIONS = INTEGRATION_PERMISSIONS | {"CREATE_ISSUES", "ASSIGN_ISSUES", "LINK_ISSUES"}
ADMIN_PERMISSIONS = AGENT_PERMISSIONS | {
    "DELETE_ISSUES",
    "EDIT_ALL_COMMENTS",
    "ADMINISTER_PROJECTS",
    "ADMINISTER",
}
PERMISSION_NAMES = {
    "BROWSE_PROJECTS": "Browse Projects",
    "ADD_COMMENTS": "Add Comments",
    "EDIT_OWN_COMMENTS": "Edit Own Comments",
    "EDIT_ALL_COMMENTS": "Edit All Comments",
    "EDIT_ISSUES": "Edit Issues",
    "TRANSITION_ISSUES": "Transition Issues",
    "RESOLVE_ISSUES": "Resolve Issues",
    "CREATE_ISSUES": "Create Issues",
    "DELETE_ISSUES": "Delete Issues",
    "ASSIGN_ISSUES": "Assign Issues",
    "LINK_ISSUES": "Link Issues",
    "ADMINISTER_PROJECTS": "Administer Projects",
    "ADMINISTER": "Administer Jira",
}


def jira_permissions(user: SandboxUser) -> frozenset[str]:
    if "admin" in user.roles:
        return ADMIN_PERMISSIONS
    if "integration" in user.roles:
        return INTEGRATION_PERMISSIONS
    return AGENT_PERMISSIONS


JIRA_PROJECTS = (("CHG", "Change Management", "10000"), ("OPS", "Operations", "10001"))
JIRA_ISSUE_TYPES = (("10200", "Change"),)


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to_status: str
    from_statuses: tuple[str, ...]  # empty: global transition, available from every status
    requires_resolution: bool = False


# Status name -> (status id, status category key).
JIRA_STATUSES: dict[str, tuple[str, str]] = {
    "Draft": ("10300", "new"),
    "Needs Information": ("10301", "new"),
    "Awaiting Approval": ("10302", "indeterminate"),
    "Approved": ("10303", "indeterminate"),
    "Scheduled": ("10304", "indeterminate"),
    "Implementing": ("10305", "indeterminate"),
    "Review": ("10306", "indeterminate"),
    "Closed": ("10307", "done"),
    "Declined": ("10308", "done"),
    "Canceled": ("10309", "done"),
}

# The change workflow. Transition ids are workflow-specific, so workers must look them up by name.
# "Start implementation" is reachable from Draft: Jira lets an extra transition bypass approval,
# which is exactly what the connector's unauthorized-change rule exists to catch.
JIRA_WORKFLOW: tuple[Transition, ...] = (
    Transition("11", "Submit for approval", "Awaiting Approval", ("Draft", "Needs Information")),
    Transition("21", "Request information", "Needs Information", ("Draft", "Awaiting Approval")),
    Transition("31", "Approve", "Approved", ("Awaiting Approval",)),
    Transition("41", "Decline", "Declined", ("Awaiting Approval",), requires_resolution=True),
    Transition("51", "Schedule", "Scheduled", ("Approved",)),
    Transition("61", "Start implementation", "Implementing", ("Draft", "Approved", "Scheduled")),
    Transition("71", "Implemented", "Review", ("Implementing",)),
    Transition("81", "Close", "Closed", ("Review",), requires_resolution=True),
    Transition("91", "Cancel", "Canceled", (), requires_resolution=True),
    Transition("101", "Reopen", "Draft", ("Declined", "Canceled")),
)
JIRA_RESOLUTIONS = (
    ("10000", "Done"),
    ("10001", "Won't Do"),
    ("10002", "Declined"),
    ("10003", "Rolled back"),
    ("10004", "Failed"),
)


@dataclass(frozen=True)
class ConfigurationItem:
    name: str
    sys_id: str
    ci_class: str = "cmdb_ci_service"
    departments: tuple[str, ...] = field(default=())


CONFIGURATION_ITEMS: tuple[ConfigurationItem, ...] = tuple(
    ConfigurationItem(name, sys_id_for(f"cmdb_ci:{name}"), cls, depts)
    for name, cls, depts in (
        ("payments-api", "cmdb_ci_service", ("Finance", "Engineering")),
        ("auth-service", "cmdb_ci_service", ("Security", "Engineering")),
        ("customer-db", "cmdb_ci_db_instance", ("Engineering",)),
        ("web-frontend", "cmdb_ci_service", ("Product",)),
        ("billing-batch", "cmdb_ci_service", ("Finance",)),
        ("vpn-gateway", "cmdb_ci_netgear", ("IT",)),
        ("data-warehouse", "cmdb_ci_db_instance", ("Analytics",)),
        ("mail-relay", "cmdb_ci_server", ("IT",)),
    )
)
CI_BY_NAME = {ci.name: ci for ci in CONFIGURATION_ITEMS}
DEPARTMENTS = ("Engineering", "Finance", "Security", "Product", "IT", "Analytics", "Support")
RELEASES = ("2026.11.1", "2026.11.2", "2026.12.1")
STANDARD_TEMPLATES = (
    "SOP-001 Monthly OS patching",
    "SOP-002 Certificate renewal",
    "SOP-003 Add DNS record",
)

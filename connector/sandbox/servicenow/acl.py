"""Access control of the sandbox instance: which roles read and write which table, per user.

A real instance checks ACL rules on every Table API call; the sandbox applies the rules below
so that a worker which works here also works for an integration user on a real instance.

Decision (each row says what the docs give and what the sandbox does):

| table                       | read                               | write / create / delete   |
|-----------------------------|------------------------------------|---------------------------|
| change_request              | itil, sn_change_read (contained by | write, create: itil,      |
|                             | sn_change_write, change_manager)   | sn_change_write; delete:  |
|                             |                                    | admin                     |
| sysapproval_approver        | itil: all rows; approver_user:     | the row's approver; admin |
|                             | only the rows routed to the user   |                           |
| sys_journal_field           | admin, audit_viewer only           | admin                     |
| sys_choice                  | every authenticated user           | personalize_choices       |
| sys_dictionary              | personalize_dictionary, admin      | personalize_dictionary    |
| sys_user, sys_user_group    | every authenticated user           | user_admin, admin         |
| cmdb_ci                     | itil, sn_change_read (cmdb_read)   | itil, asset               |
| std_change_producer_version | itil, sn_change_read               | change_manager, admin     |

`admin` passes every check. Sources (ServiceNow documentation and community answers):
- "Create a change request ... Role required: itil, admin, or sn_change_write"
  (servicenow.com/docs .../change-management/t_CreateAChange.html).
- ITSM Roles - Change Management: sn_change_read "Read access to the Change Management
  application and related records" (contains cmdb_read); sn_change_write contains
  sn_change_read (.../change-management/installed-with-cm-itsm-roles.html).
- "Users with the ITIL role can view the list of available standard changes and submit change
  requests" (community thread "Creating Standard Change using sn_chg_rest", 2020).
- Granular admin roles for Audit tables: audit_viewer "Provides read access to the sys_audit,
  sys_journal_field, and sys_history_set tables" (.../platform-security/
  granular-admin-roles-for-auditing.html): the journal table is not an itil table.
- personalize_dictionary "Can configure dictionary entries and labels"; personalize_choices
  "Can configure choices" (the platform's personalize roles); a user with only a custom role
  gets `403 {"error": {"message": "User Not Authorized", "detail": "User is unauthorized to
  access table: sys_dictionary"}, "status": "failure"}` (community thread "How do I give a user
  permissions to access sys_dictionary list", 2025).
- Security jump-start ACL rules: "cmdb_ci WCD asset or itil role required to write/create/
  delete Configuration Item records" (.../access-control/r_SecurityJumpStartACLRules.html).
- approver_user: "Approver users can modify requests for approval routed to them"
  (.../employee-experience-foundation/ec-to-do-approval-roles.html).
sys_choice and sys_user are read by every form a fulfiller opens (choice lists, reference
pickers), so they stay readable by any authenticated user; their writes stay admin-side.

How a refusal looks, as on an instance: a table the user may not read at all is a 403 with
"User Not Authorized"; rows a row rule hides are left out of lists (and a GET by sys_id is the
404 "No Record found ... ACL restricts the record retrieval"); a write the user may not make is
a 403 "Operation Failed" / "ACL Exception Update Failed due to security constraints".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Operation = Literal["read", "write", "create", "delete"]
ANYONE = "*"  # any authenticated user

# Roles that contain others (only those the rules below name).
_CONTAINS: dict[str, tuple[str, ...]] = {
    "sn_change_write": ("sn_change_read",),
    "change_manager": ("itil",),
    "sn_change_read": ("cmdb_read",),
}

_RULES: dict[str, dict[Operation, tuple[str, ...]]] = {
    "change_request": {
        "read": ("itil", "sn_change_read"),
        "write": ("itil", "sn_change_write"),
        "create": ("itil", "sn_change_write"),
        "delete": (),
    },
    "sysapproval_approver": {
        "read": ("itil", "approver_user"),
        "write": ("itil", "approver_user"),  # and only on the user's own rows, see row_allowed
        "create": (),
        "delete": (),
    },
    "sys_journal_field": {"read": ("audit_viewer",), "write": (), "create": (), "delete": ()},
    "sys_choice": {
        "read": (ANYONE,),
        "write": ("personalize_choices",),
        "create": ("personalize_choices",),
        "delete": ("personalize_choices",),
    },
    "sys_dictionary": {
        "read": ("personalize_dictionary",),
        "write": ("personalize_dictionary",),
        "create": ("personalize_dictionary",),
        "delete": (),
    },
    "sys_user": {
        "read": (ANYONE,),
        "write": ("user_admin",),
        "create": ("user_admin",),
        "delete": ("user_admin",),
    },
    "sys_user_group": {
        "read": (ANYONE,),
        "write": ("user_admin",),
        "create": ("user_admin",),
        "delete": ("user_admin",),
    },
    "cmdb_ci": {
        "read": ("itil", "cmdb_read", "asset"),
        "write": ("itil", "asset"),
        "create": ("itil", "asset"),
        "delete": ("itil", "asset"),
    },
    "std_change_producer_version": {
        "read": ("itil", "sn_change_read"),
        "write": ("change_manager",),
        "create": ("change_manager",),
        "delete": (),
    },
}


def effective(roles: tuple[str, ...]) -> frozenset[str]:
    """The roles a user holds, with the roles they contain."""
    out: set[str] = set()
    todo = list(roles)
    while todo:
        role = todo.pop()
        if role not in out:
            out.add(role)
            todo.extend(_CONTAINS.get(role, ()))
    return frozenset(out)


def table_allowed(roles: frozenset[str], table: str, op: Operation) -> bool:
    """Whether a user with these (effective) roles passes the table-level rule."""
    if "admin" in roles:
        return True
    needed = _RULES.get(table, {}).get(op, ())
    return ANYONE in needed or bool(roles.intersection(needed))


def rows_filtered(roles: frozenset[str], table: str) -> bool:
    """Whether a row rule can hide rows of `table` from this user (lists skip the check
    otherwise: it would cost a call per row on 100,000 changes)."""
    return table == "sysapproval_approver" and not roles.intersection(("admin", "itil"))


def row_readable(
    roles: frozenset[str], table: str, row: Mapping[str, str], *, user_sys_id: str
) -> bool:
    """The row rule: an approver who is not a fulfiller sees only the approvals routed to them."""
    if "admin" in roles or "itil" in roles or table != "sysapproval_approver":
        return True
    return row.get("approver") == user_sys_id


def row_writable(
    roles: frozenset[str], table: str, row: Mapping[str, str], *, user_sys_id: str
) -> bool:
    """Nobody but admin answers an approval in another person's name."""
    if "admin" in roles or table != "sysapproval_approver":
        return True
    return row.get("approver") == user_sys_id

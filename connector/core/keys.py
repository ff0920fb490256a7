"""Ticket keys as each system writes them: checked before a key is stored or put in a request.

A key comes from outside (a webhook body, a CLI argument) and ends up in URL paths and
ServiceNow encoded queries, so anything that is not a key of the system's own format is refused
where it enters:

- Jira issue key: project key, dash, issue number (`CHG-12`, `OPS_2-7`). Jira's project keys
  start with a letter and hold upper-case letters, digits and underscores; issue numbers start
  at 1.
- ServiceNow: a record number (a letter prefix and digits: `CHG0030001`, `CTASK0010002`) or a
  sys_id (32 hexadecimal digits).

Neither format can hold `/`, `?`, `#`, `^`, `=`, `%`, white space or control characters, so a
valid key can never leave its path segment or add a condition to an encoded query.
"""

from __future__ import annotations

import re

#: Longest key accepted (the store's ticket_key column is wider).
MAX_KEY_LENGTH = 100

JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]+-[1-9][0-9]*")
SERVICENOW_NUMBER = re.compile(r"[A-Z][A-Z_]{0,19}[0-9]{1,20}")
SYS_ID = re.compile(r"[0-9a-f]{32}")

_FORMATS = {
    "jira": "a Jira issue key such as CHG-12",
    "servicenow": "a ServiceNow number such as CHG0030001 or a 32-hex sys_id",
}


def is_key(system: str, key: str) -> bool:
    """Whether `key` is a ticket key of `system` ("jira" or "servicenow")."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
        return False
    if system == "jira":
        return JIRA_KEY.fullmatch(key) is not None
    if system == "servicenow":
        return SERVICENOW_NUMBER.fullmatch(key) is not None or SYS_ID.fullmatch(key) is not None
    return False


def key_problem(system: str, key: str) -> str | None:
    """None for a valid key, else why it is refused (one line, the key shown shortened)."""
    if is_key(system, key):
        return None
    shown = repr(key[:40] + ("..." if len(key) > 40 else ""))
    return f"{shown} is not {_FORMATS.get(system, 'a ticket key')}"


def is_any_key(key: str) -> bool:
    """Whether `key` is a key of some system (when the source is not known yet)."""
    return any(is_key(system, key) for system in _FORMATS)

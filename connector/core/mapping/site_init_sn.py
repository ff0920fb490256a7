"""`mappings init --live` for ServiceNow: the status rules and actions of a change table.

Written from the choice lists the site has: the `approval` and `on_hold` rules and the state
changes of each action use the state values whose labels say Authorize, Scheduled and Canceled
on this instance; a state the instance does not have is a `# TODO` line.
"""

from __future__ import annotations

import json

from connector.core.mapping.site import Site
from connector.core.mapping.vocabulary import normal


def q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def sn_approvals() -> list[str]:
    return [
        "[fields.approvals]",
        'source = "sysapproval_approver"',
        'converter = "sn-approvals"',
        'map = { "requested" = "pending", "not requested" = "not-requested" }',
        "",
    ]


def sn_rules(site: Site) -> list[str]:
    lines: list[str] = []
    approval = site.field("approval")
    approvals = approval.options or () if approval is not None else ()
    authorize = _state(site, "authorize")
    if "rejected" in approvals:
        lines += ["[[status.rules]]", 'when = { approval = "rejected" }', 'status = "rejected"', ""]
    if site.field("on_hold") is not None:
        lines += ["[[status.rules]]", 'when = { on_hold = "true" }', 'status = "awaiting-info"', ""]
    if authorize and "approved" in approvals:
        lines += [
            "[[status.rules]]",
            f'when = {{ state = {q(authorize)}, approval = "approved" }}',
            'status = "approved"',
            "",
        ]
    return lines


def _state(site: Site, *words: str) -> str | None:
    state = site.field("state")
    if state is None or not state.options:
        return None
    for word in words:
        for value in state.options:
            if normal(state.label_of(value)) == word:
                return value
    return None


def sn_actions(site: Site, todos: list[str]) -> list[str]:
    hold = site.field("on_hold") is not None
    approval = site.field("approval")
    approvals = (approval.options or ()) if approval is not None else ()
    close = site.field("close_code")
    unsuccessful = "unsuccessful" in ((close.options or ()) if close is not None else ())
    authorize, scheduled = _state(site, "authorize"), _state(site, "scheduled")
    canceled = _state(site, "canceled", "cancelled")

    def action(name: str, state: str | None, *, needs_state: bool, **fields: str) -> list[str]:
        body = [f"state = {q(state)}"] if state else []
        if needs_state and state is None:
            todos.append(f"actions.{name}.state")
            body = [f"state = {q('TODO')}  # TODO: no such state on the site"]
        parts = ", ".join(f"{k} = {q(v)}" for k, v in fields.items())
        return [f"[actions.{name}]", *body, *([f"fields = {{ {parts} }}"] if parts else []), ""]

    off = {"on_hold": "false"} if hold else {}
    decided = {"approval": "approved"} if "approved" in approvals else {}
    refused = {"approval": "rejected"} if "rejected" in approvals else {}
    code = {"close_code": "unsuccessful"} if unsuccessful else {}
    held = {"on_hold": "true"} if hold else {}
    lines = action("needs_info", None, needs_state=not hold, **held)
    if hold:
        lines += action("resubmit", None, needs_state=False, **off)
    lines += action("approved", authorize, needs_state=True, **decided, **off)
    lines += action("scheduled", scheduled, needs_state=True, **off)
    lines += action(
        "rejected",
        canceled,
        needs_state=True,
        **refused,
        **code,
        close_notes="Rejected by the change advisory board.",
    )
    lines += action("cancelled", canceled, needs_state=True, **code, close_notes="Cancelled.")
    if authorize:
        lines += action("unauthorized_revert", authorize, needs_state=True)
        # Approval drift: back to Authorize, the approval asked for again.
        again = {"approval": "requested"} if "requested" in approvals else {}
        lines += action("drift", authorize, needs_state=True, **again, **off)
    return lines

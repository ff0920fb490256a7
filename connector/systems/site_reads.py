"""Reads of a Jira site's own description (fields, options, workflow) for `mappings init`
and `mappings check --live`, on the adapters' sessions and retry policy.

Only endpoints a least-privileged integration user may call are required. Jira: `GET /field`,
`GET /project` and `GET /project/{key}/statuses` (Browse projects), `GET /issue/{key}/editmeta`
(Browse + Edit issues) and `GET /issue/{key}/transitions?expand=transitions.fields`. Field
contexts and their options (`GET /field/{id}/context[/{ctx}/option]`) are administrator reads:
they are tried once and, when refused (403) or absent (404, Data Center), left out.
(ServiceNow's dictionary and choices are read by the adapter itself: `servicenow_meta`.)
"""

from __future__ import annotations

from typing import Any

from jira import JIRAError

from connector.systems.jira import JiraAdapter

_CONTEXT_PAGE = 50


# ---- Jira ----------------------------------------------------------------------------------


def jira_get(adapter: JiraAdapter, path: str, params: dict[str, Any] | None = None) -> Any:
    """One documented GET; a refusal is the adapter's one-line error."""
    return adapter._call(lambda: adapter._rest("GET", path, params=params), f"read {path}")


def jira_get_optional(
    adapter: JiraAdapter, path: str, params: dict[str, Any] | None = None
) -> Any | None:
    """A GET the user may not be allowed (403) or the deployment may not serve (404): None."""

    def once() -> Any | None:
        try:
            return adapter._rest("GET", path, params=params)
        except JIRAError as exc:
            if exc.status_code in (403, 404):
                if exc.response is not None:
                    exc.response.close()
                return None
            raise

    return adapter._call(once, f"read {path}")


def jira_fields(adapter: JiraAdapter) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = adapter._call(adapter.client.fields, "read fields")
    return fields


def jira_transitions(adapter: JiraAdapter, key: str) -> list[dict[str, Any]]:
    body = jira_get(adapter, f"issue/{key}/transitions", {"expand": "transitions.fields"})
    return list((body or {}).get("transitions") or [])


def jira_context_options(adapter: JiraAdapter, field_id: str) -> list[dict[str, Any]] | None:
    """Every option of every context of a custom field; None when contexts are not readable."""
    contexts = _context_pages(adapter, f"field/{field_id}/context")
    if contexts is None:
        return None
    options: list[dict[str, Any]] = []
    for context in contexts:
        found = _context_pages(adapter, f"field/{field_id}/context/{context['id']}/option")
        if found is None:
            return None
        options += found
    return options


def _context_pages(adapter: JiraAdapter, path: str) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    start = 0
    while True:
        page = jira_get_optional(adapter, path, {"startAt": start, "maxResults": _CONTEXT_PAGE})
        if page is None:
            return None
        values = list(page.get("values") or [])
        out += values
        start += len(values)
        # PageBean: the end is `isLast`; a page without it ends when `total` is reached.
        if not values or page.get("isLast", start >= int(page.get("total", start))):
            return out

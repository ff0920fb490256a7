"""Reads of a site's own description (fields, options, workflow, dictionary) for `mappings init`
and `mappings check --live`, on the adapters' sessions and retry policy.

Only endpoints a least-privileged integration user may call are required. Jira: `GET /field`,
`GET /project` and `GET /project/{key}/statuses` (Browse projects), `GET /issue/{key}/editmeta`
(Browse + Edit issues) and `GET /issue/{key}/transitions?expand=transitions.fields`. Field
contexts and their options (`GET /field/{id}/context[/{ctx}/option]`) are administrator reads:
they are tried once and, when refused (403) or absent (404, Data Center), left out.
ServiceNow: `sys_dictionary` and `sys_choice` through the Table API, offset-paged to the end
that `X-Total-Count` announces.

(Kept apart from the adapters' sync paths; these are one-off reads of the site's setup.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jira import JIRAError

from connector.errors import ConfigError, PermanentError
from connector.systems import http
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter

_CONTEXT_PAGE = 50
_TABLE_PAGE = 500


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


# ---- ServiceNow ----------------------------------------------------------------------------


def servicenow_rows(
    adapter: ServiceNowAdapter, table: str, query: str, fields: str
) -> list[dict[str, Any]]:
    """Every row of `table` matching `query`, plain values; ConfigError if it is not readable."""
    return adapter._call(lambda: list(_rows(adapter, table, query, fields)), f"read {table}")


def _rows(adapter: ServiceNowAdapter, table: str, query: str, fields: str) -> Iterator[Any]:
    offset = 0
    while True:
        params = {
            "sysparm_query": query,
            "sysparm_fields": fields,
            "sysparm_limit": str(_TABLE_PAGE),
            "sysparm_offset": str(offset),
            "sysparm_display_value": "false",
            "sysparm_exclude_reference_link": "true",
        }
        url = f"{adapter.base_url}/api/now/table/{table}"
        response = adapter.client.session.get(url, params=params)
        if not response.ok:
            raise _refused(adapter, table, response.status_code, response.text)
        rows = list(response.json().get("result") or [])
        yield from rows
        offset += len(rows)
        total = response.headers.get("X-Total-Count")
        if not rows or (total is not None and offset >= int(total)):
            return


def _refused(adapter: ServiceNowAdapter, table: str, status: int, text: str) -> Exception:
    if status == 400 and "Invalid table" in text:
        return ConfigError(f"{adapter.name}: read {table}: ServiceNow has no table {table!r}")
    error = http.error_for_status(
        status, source=adapter.name, what=f"read {table}", system="ServiceNow", detail=text
    )
    if isinstance(error, PermanentError | ConfigError):
        return ConfigError(
            f"{adapter.name}: read {table}: ServiceNow answered {status}; the integration user "
            "needs read access to sys_dictionary and sys_choice"
        )
    return error

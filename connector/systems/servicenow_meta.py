"""ServiceNow table descriptions for the adapter: a table's dictionary and its choice lists.

`mappings init --live` and `mappings check --live` read them to learn the change table's
columns (types, referenced tables) and the values its choice fields accept. A table inherits
the columns and choices of the tables it extends (change_request extends task), so both are
read for the table and its parents, and what the table defines itself wins. Reading
sys_dictionary takes the personalize_dictionary role; sys_choice is readable by every user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from pysnc import ServiceNowClient

from connector.core.errors import TicketDeleted
from connector.systems import http
from connector.systems.paths import query_value, segment

CHANGE_TABLE = "change_request"
DICTIONARY_TABLE = "sys_dictionary"
CHOICE_TABLE = "sys_choice"
# Tables a table extends (child first): their dictionary and choices describe the child too.
TABLE_PARENTS = {"change_request": ("task",), "change_task": ("task",)}
_META_PAGE = 1000


class TableDescriptions(http.PolicyClient):
    name: str
    base_url: str
    client: ServiceNowClient

    def dictionary(self, table: str = CHANGE_TABLE) -> list[dict[str, str]]:
        """The columns of `table` as sys_dictionary describes them, inherited ones included.

        One dict per column: element, column_label, internal_type (the glide type name:
        string, integer, boolean, glide_date_time, reference, glide_list, journal_input...),
        reference (the referenced table), choice ("0": none, else a choice list), max_length,
        mandatory, read_only, active. A column the table redefines wins over its parent's.
        Needs read access to sys_dictionary (the personalize_dictionary role)."""
        names = (table, *TABLE_PARENTS.get(table, ()))
        fields = "name,element,column_label,internal_type,reference,choice,max_length,mandatory"
        query = f"nameIN{','.join(query_value(n) for n in names)}^elementISNOTEMPTY^ORDERBYelement"
        rows = self._call(
            lambda: self._plain(DICTIONARY_TABLE, query, f"{fields},read_only,active"),
            f"read the dictionary of {table}",
        )
        return _child_first(rows, names, key=lambda r: r["element"])

    def choices(self, table: str = CHANGE_TABLE) -> dict[str, list[dict[str, Any]]]:
        """The choice lists of `table` (sys_choice, English), per column, in form order:
        `{element: [{"value", "label", "inactive": bool}]}`. A column whose choices the table
        defines itself (change_request's `state`) does not take its parent's."""
        names = (table, *TABLE_PARENTS.get(table, ()))
        tables = ",".join(query_value(n) for n in names)
        query = f"nameIN{tables}^language=en^ORDERBYelement^ORDERBYsequence"
        rows = self._call(
            lambda: self._plain(CHOICE_TABLE, query, "name,element,value,label,sequence,inactive"),
            f"read the choices of {table}",
        )
        owner: dict[str, str] = {}
        for row in rows:  # the most specific table that lists choices for the column
            current = owner.get(row["element"])
            if current is None or names.index(row["name"]) < names.index(current):
                owner[row["element"]] = row["name"]
        out: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(rows, key=lambda r: (r["element"], _int(r["sequence"]))):
            if row["name"] == owner[row["element"]]:
                out.setdefault(row["element"], []).append(
                    {
                        "value": row["value"],
                        "label": row["label"],
                        "inactive": row["inactive"] == "true",
                    }
                )
        return out

    def _plain(self, table: str, query: str, fields: str) -> list[dict[str, str]]:
        """Stored values of `fields` (references as their plain value), every page."""
        url = f"{self.base_url}/api/now/table/{segment(table)}"
        rows: list[dict[str, str]] = []
        while True:
            params = {
                "sysparm_query": query,
                "sysparm_fields": fields,
                "sysparm_exclude_reference_link": "true",
                "sysparm_limit": str(_META_PAGE),
                "sysparm_offset": str(len(rows)),
            }
            response = self.client.session.get(url, params=params)
            raise_unless_ok(response, source=self.name, what=f"read {table}")
            page = response.json().get("result") or []
            rows.extend({f: value_of(row.get(f)) for f in fields.split(",")} for row in page)
            if not page or 'rel="next"' not in response.headers.get("Link", ""):
                return rows


def _child_first(
    rows: list[dict[str, str]], names: tuple[str, ...], *, key: Callable[[dict[str, str]], str]
) -> list[dict[str, str]]:
    """One row per key, from the most specific table in `names`, in the rows' order."""
    best: dict[str, dict[str, str]] = {}
    for row in rows:
        current = best.get(key(row))
        if current is None or names.index(row["name"]) < names.index(current["name"]):
            best[key(row)] = row
    return list(best.values())


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def value_of(cell: Any) -> str:
    """A Table API cell's stored value, whether plain or `{value, display_value, link}`."""
    return str(cell.get("value", "")) if isinstance(cell, dict) else str(cell or "")


def raise_unless_ok(
    response: requests.Response, *, source: str, what: str, deleted: str | None = None
) -> None:
    """The error a failed Table API answer means; with `deleted` (the record asked for), a 404
    is `TicketDeleted`: the record is gone."""
    if deleted is not None and response.status_code == 404:
        raise TicketDeleted(f"{source}: {deleted}: the change_request is deleted", key=deleted)
    if not response.ok:
        raise http.error_for_status(
            response.status_code,
            source=source,
            what=what,
            system="ServiceNow",
            detail=error_detail(response),
        )


def error_detail(response: requests.Response) -> str:
    """The `error.message` of a ServiceNow error body, or ""."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    return str(error.get("message") or "") if isinstance(error, dict) else str(error)

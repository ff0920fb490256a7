"""The sandbox instance's records: tables of string rows, audit columns, and the journal.

Rows hold only the columns that differ from their table's defaults (sparse), so 100,000 seeded
changes fit in memory; `Table.get` fills in the rest. Every write goes through `Store.write`,
which does what the instance's engine does: ignore unknown and system columns, turn journal
writes (`work_notes`, `comments`) into `sys_journal_field` rows, skip no-op updates entirely,
and otherwise stamp `sys_updated_on` (one-second precision, UTC), `sys_updated_by` and
`sys_mod_count`. Callers hold the sandbox lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from connector.sandbox.servicenow.columns import SYSTEM_MANAGED, Column, Kind, TableSchema
from connector.sandbox.servicenow.query import FieldKind, parse, select
from connector.sandbox.servicenow.schema import TABLE_ALIASES, TABLES

Row = dict[str, str]
JOURNAL = "sys_journal_field"


def glide_time(moment: datetime) -> str:
    """A datetime as the Table API stores it: UTC, `YYYY-MM-DD HH:MM:SS`, seconds dropped below."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime, which matters when seeding 100,000 rows.
    return moment.isoformat(" ", "seconds")[:19]


class Table:
    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self.name = schema.name
        self.columns = schema.columns
        self.ordered = tuple(sorted(schema.columns))  # the instance lists columns by name
        self.rows: dict[str, Row] = {}  # sys_id -> row, in insertion order

    def get(self, row: Mapping[str, str], column: str) -> str:
        if self.columns.get(column, _PLAIN).kind is Kind.JOURNAL:
            return ""  # journal columns are write-only: their value never reads back
        value = row.get(column)
        return value if value is not None else self.schema.defaults.get(column, "")


_PLAIN = Column()


class Store:
    def __init__(self) -> None:
        self.tables = {name: Table(schema) for name, schema in TABLES.items()}
        # element_id -> journal rows, oldest first: the display of a journal column reads it.
        self._journal: dict[str, list[Row]] = {}
        self._change_count = 0
        # Every write bumps the version, so a cached query result is never stale.
        self.version = 0
        self._results: dict[tuple[str, str], tuple[int, list[Row]]] = {}

    def table(self, name: str) -> Table | None:
        return self.tables.get(TABLE_ALIASES.get(name, name))

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, table: Table, path: str) -> tuple[Table, Column] | None:
        """The table and column a (dot-walked) field path ends at, or None if it names none."""
        names = path.split(".")
        for name in names[:-1]:
            column = table.columns.get(name)
            target = self.table(column.ref) if column and column.kind is Kind.REFERENCE else None
            if target is None:
                return None
            table = target
        column = table.columns.get(names[-1])
        return (table, column) if column is not None else None

    def walk(
        self, table: Table, row: Mapping[str, str], path: str
    ) -> tuple[Table, Mapping[str, str] | None]:
        """Follow the references of a dot-walked path: the table and row its last part is on."""
        current: Mapping[str, str] | None = row
        for name in path.split(".")[:-1]:
            column = table.columns.get(name)
            target = self.table(column.ref) if column is not None else None
            if target is None or current is None:
                return table, None
            current = target.rows.get(table.get(current, name))
            table = target
        return table, current

    def value(self, table: Table, row: Mapping[str, str], path: str) -> str:
        if "." not in path:
            return table.get(row, path)
        leaf_table, leaf_row = self.walk(table, row, path)
        return leaf_table.get(leaf_row, path.rsplit(".", 1)[1]) if leaf_row is not None else ""

    def query(self, table: Table, encoded: str) -> list[Row]:
        """The rows an encoded query selects, in order. Paging re-asks the same query page
        after page; the cached result saves re-sorting 100,000 rows for each page."""
        key = (table.name, encoded)
        cached = self._results.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        rows = select(table.rows.values(), parse(encoded), TableFields(self, table))
        if len(self._results) >= 16:
            self._results.clear()
        self._results[key] = (self.version, rows)
        return rows

    def journal(self, element_id: str, elements: tuple[str, ...]) -> list[Row]:
        """Journal rows of a record for the given element names, newest first."""
        entries = self._journal.get(element_id, [])
        return [e for e in reversed(entries) if e["element"] in elements]

    # -- writing ---------------------------------------------------------------------------

    def load(self, table_name: str, row: Row) -> Row:
        """Put a fully formed row in place (seeding): no stamping, no journal processing."""
        self.version += 1
        self.tables[table_name].rows[row["sys_id"]] = row
        if table_name == JOURNAL:
            self._journal.setdefault(row["element_id"], []).append(row)
        if table_name == "change_request":
            self._change_count += 1
        return row

    def next_change_number(self) -> str:
        self._change_count += 1
        return change_number(self._change_count)

    def insert(
        self, table: Table, values: Mapping[str, object], *, user: str, now: datetime
    ) -> tuple[Row, list[str]]:
        stamp = glide_time(now)
        sys_id = _text(values.get("sys_id")) or uuid.uuid4().hex
        row: Row = {
            "sys_id": sys_id,
            "sys_created_on": stamp,
            "sys_created_by": user,
            "sys_updated_on": stamp,
            "sys_updated_by": user,
            "sys_mod_count": "0",
        }
        if table.name == "change_request":
            row["number"] = self.next_change_number()
            row["task_effective_number"] = row["number"]
            row["opened_at"] = stamp
        table.rows[sys_id] = row
        self.version += 1
        changed = self._apply(table, row, values, user, stamp)
        return row, sorted({*row.keys(), *changed} - {"sys_id"})

    def write(
        self, table: Table, row: Row, values: Mapping[str, object], *, user: str, now: datetime
    ) -> list[str]:
        """Apply an update; the changed columns (empty: nothing was written at all)."""
        stamp = glide_time(now)
        changed = self._apply(table, row, values, user, stamp)
        if changed:
            self.version += 1
            row["sys_updated_on"] = stamp
            row["sys_updated_by"] = user
            row["sys_mod_count"] = str(int(table.get(row, "sys_mod_count") or 0) + 1)
        return changed

    def _apply(
        self, table: Table, row: Row, values: Mapping[str, object], user: str, stamp: str
    ) -> list[str]:
        changed: list[str] = []
        for name, raw in values.items():
            column = table.columns.get(name)
            # Unknown columns and the audit columns are ignored, as the instance does.
            if column is None or name in SYSTEM_MANAGED or name == "sys_id":
                continue
            text = _coerce(column, raw)
            if column.kind is Kind.JOURNAL:
                if text.strip() and name != "comments_and_work_notes":
                    self.add_journal(table.name, row["sys_id"], name, text, user, stamp)
                    changed.append(name)
            elif text != table.get(row, name):
                row[name] = text
                changed.append(name)
        return changed

    def delete(self, table: Table, sys_id: str) -> bool:
        row = table.rows.pop(sys_id, None)
        if row is None:
            return False
        self.version += 1
        if table.name == JOURNAL:
            entries = self._journal.get(row["element_id"], [])
            entries[:] = [e for e in entries if e["sys_id"] != sys_id]
        if table.name == "change_request":  # the task's cascade rule deletes its approvals
            approvals = self.tables["sysapproval_approver"]
            for key in [k for k, r in approvals.rows.items() if r.get("sysapproval") == sys_id]:
                del approvals.rows[key]
        return True

    def add_journal(
        self, table_name: str, element_id: str, element: str, text: str, user: str, stamp: str
    ) -> Row:
        entry: Row = {
            "sys_id": uuid.uuid4().hex,
            "element_id": element_id,
            "name": table_name,
            "element": element,
            "value": text,
            "sys_created_on": stamp,
            "sys_created_by": user,
            "sys_updated_on": stamp,
            "sys_updated_by": user,
            "sys_mod_count": "0",
        }
        return self.load(JOURNAL, entry)


def change_number(n: int) -> str:
    return f"CHG{30000 + n:07d}"


def _text(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dict):  # {"value": ..., "display_value": ...} as pysnc may send
        return _text(raw.get("value"))
    if isinstance(raw, list | tuple):
        return ",".join(_text(item) for item in raw)
    return str(raw)


def _coerce(column: Column, raw: object) -> str:
    text = _text(raw)
    if column.kind is Kind.BOOLEAN and text.lower() in ("true", "false", "1", "0"):
        return "true" if text.lower() in ("true", "1") else "false"
    return text


class TableFields:
    """The query module's view of a table: field kinds and (dot-walked) values."""

    def __init__(self, store: Store, table: Table) -> None:
        self.store = store
        self.table = table
        self._kinds: dict[str, FieldKind | None] = {}

    def kind(self, field: str) -> FieldKind | None:
        if field not in self._kinds:
            found = self.store.resolve(self.table, field)
            self._kinds[field] = _query_kind(found[1]) if found else None
        return self._kinds[field]

    def value(self, row: Row, field: str) -> str:
        return self.store.value(self.table, row, field)


def _query_kind(column: Column) -> FieldKind:
    if column.numeric:
        return "number"
    if column.kind in (Kind.DATETIME, Kind.DATE):
        return "date"
    return "string"

"""The column model of the sandbox instance's dictionary: a column's kind, a table's schema, and
the system fields every table has.

schema.py declares the tables with these; the store keeps every value as the string the Table
API returns, and a column's kind says how queries compare it (numbers, dates) and how its
display value is rendered (choice labels, reference display names, dates, journal history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "glide_date_time"
    DATE = "glide_date"
    CHOICE = "choice"  # string value with a label
    INT_CHOICE = "integer_choice"  # integer value with a label (state, risk, impact)
    REFERENCE = "reference"
    GLIDE_LIST = "glide_list"  # comma-separated sys_ids of `ref`
    JOURNAL = "journal_input"  # write-only: a write appends to sys_journal_field


@dataclass(frozen=True)
class Column:
    kind: Kind = Kind.STRING
    ref: str = ""  # referenced table, for REFERENCE and GLIDE_LIST
    choices: dict[str, str] = field(default_factory=dict)
    journal_label: str = ""  # how the journal display names this field, e.g. "Work notes"

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.INTEGER, Kind.INT_CHOICE)


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: dict[str, Column]
    display: str  # the column whose value is the record's display value
    defaults: dict[str, str]  # values a new row starts with (others are "")


# Fields of every table; sys_id and the audit columns are maintained by the store.
SYS_COLUMNS: dict[str, Column] = {
    "sys_id": Column(),
    "sys_created_on": Column(Kind.DATETIME),
    "sys_created_by": Column(),
    "sys_updated_on": Column(Kind.DATETIME),
    "sys_updated_by": Column(),
    "sys_mod_count": Column(Kind.INTEGER),
    "sys_tags": Column(),
}
SYSTEM_MANAGED = frozenset(
    {"sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count"}
)


def typed(kind: Kind, choices: dict[str, str] | None = None) -> Column:
    return Column(kind, choices=choices or {})


def reference(table: str) -> Column:
    return Column(Kind.REFERENCE, ref=table)


def journal(label: str) -> Column:
    return Column(Kind.JOURNAL, journal_label=label)

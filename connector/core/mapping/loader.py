"""Reading mapping files: TOML -> validated `Mapping`, or a one-line `MappingError`.

The only module of the package that touches the file system. Every failure (missing file, TOML
syntax, a pydantic error, a meaning error from the schema) becomes `MappingError(file, key,
problem)`, whose text is one line `<file>: <dotted key>: <problem>` an admin can act on. Also
here: `check` for `change-connector mappings check`, and the `referenced_*` helpers the live check
uses to compare a mapping with a real site.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connector.core.errors import MappingError
from connector.core.mapping.converters import CONVERTERS
from connector.core.mapping.schema import Mapping, MappingProblem, dotted
from connector.core.model import Status

DEFAULT_DIRECTORY = Path("mappings")

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate one mapping file; raise `MappingError` naming the file and the key."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(file=file, key="(file)", problem="no such file") from None
    except IsADirectoryError:
        raise MappingError(file=file, key="(file)", problem="is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise MappingError(file=file, key="(file)", problem=f"cannot read: {problem}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_POSITION.search(message)
        key = f"line {where.group(1)}" if where else "(toml)"
        problem = _TOML_POSITION.sub("", message).strip()
        if where:
            problem += f" (column {where.group(2)})"
        raise MappingError(file=file, key=key, problem=f"TOML syntax error: {problem}") from None
    return parse_mapping(data, file=file)


def parse_mapping(data: dict[str, Any], *, file: str = "<mapping>") -> Mapping:
    """Validate already-parsed TOML (or any dict); `file` only names the source in errors."""
    try:
        return Mapping.model_validate(data)
    except MappingProblem as exc:
        raise MappingError(file=file, key=exc.key, problem=exc.problem) from None
    except ValidationError as exc:
        key, problem = translate(exc)
        raise MappingError(file=file, key=key, problem=problem) from None


def load_mappings(paths: Iterable[str | Path]) -> list[Mapping]:
    """Load several files, in order; the first bad one raises its `MappingError`."""
    return [load_mapping(path) for path in paths]


def translate(exc: ValidationError) -> tuple[str, str]:
    """A pydantic ValidationError -> (dotted key, one-line problem), from its first error."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "(file)", "invalid mapping"
    # A misspelt key shows up twice: as unknown, and as the missing key it was meant to be.
    # The unknown one is the line the admin has to fix, so it goes first.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = _loc(first["loc"])
    key = dotted(*loc) if loc else "(top level)"
    kind = first["type"]
    given = first.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        missing = [
            str(e["loc"][-1])
            for e in errors
            if e["type"] == "missing" and tuple(_loc(e["loc"]))[:-1] == tuple(loc)[:-1]
        ]
        close = difflib.get_close_matches(name, missing, n=1, cutoff=0.6)
        problem = f"unknown key {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        errors = [
            e for e in errors if not (e["type"] == "missing" and close and e["loc"][-1] == close[0])
        ]
    elif kind == "missing":
        problem = "required key missing"
    elif kind in ("enum", "literal_error"):
        expected = str(first.get("ctx", {}).get("expected", "")).replace("'", "")
        problem = (
            f"{given!r} is not a valid value (expected one of: {expected.replace(' or ', ', ')})"
        )
    else:
        problem = " ".join(str(first["msg"]).split()) + f" (got {_short(given)})"
    # A union reports one error per member for the same key; count only other keys.
    more = len({tuple(_loc(e["loc"])) for e in errors} - {tuple(loc)})
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return key, problem


_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "tuple", "function-after"}


def _loc(loc: tuple[int | str, ...]) -> list[str | int]:
    # Unions name the member that failed (`str`, `tuple[str, ...]`): not a key an admin wrote.
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_NAMES))]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class CheckResult:
    """One line of `mappings check`: the file, whether it is valid, and what to print."""

    file: str
    ok: bool
    line: str
    mapping: Mapping | None = None


def check_files(
    paths: Sequence[str | Path] | None = None, *, directory: str | Path = DEFAULT_DIRECTORY
) -> list[CheckResult]:
    """Check the given files, or every `*.toml` in `directory`; never raises `MappingError`."""
    if not paths:
        paths = sorted(Path(directory).glob("*.toml"))
        if not paths:
            line = f"{directory}: (directory): no mapping files (*.toml) found"
            return [CheckResult(str(directory), False, line)]
    results = []
    for path in paths:
        try:
            mapping = load_mapping(path)
        except MappingError as exc:
            results.append(CheckResult(str(path), False, str(exc)))
            continue
        line = f"{path}: ok ({summary(mapping)})"
        results.append(CheckResult(str(path), True, line, mapping))
    return results


def check(
    paths: Sequence[str | Path] | None = None, *, directory: str | Path = DEFAULT_DIRECTORY
) -> list[str]:
    """The lines `change-connector mappings check [FILES]` prints, one per file."""
    return [result.line for result in check_files(paths, directory=directory)]


def summary(mapping: Mapping) -> str:
    """`jira, 35 fields, 6 actions` (plus the status map size when there is one)."""
    parts = [mapping.system, f"{len(mapping.fields)} fields"]
    if mapping.status is not None:
        parts.append(f"{len(mapping.status.map)} statuses, {len(mapping.status.rules)} rules")
    parts.append(f"{len(mapping.actions)} actions")
    return ", ".join(parts)


def referenced_fields(mapping: Mapping) -> set[str]:
    """Jira field ids / ServiceNow columns the mapping reads or writes on the ticket itself.

    For Jira the first path segment (`fixVersions.0` -> `fixVersions`), for ServiceNow the whole
    name (a dot-walked column such as `requested_by.email` is one column to the Table API).
    Related tables (approval rows) are not included: they are `mapping.scope.approvals_table`.
    Suitable as the `fields=` / `sysparm_fields=` list when reading tickets.
    """
    jira = mapping.system == "jira"

    def column(path: str) -> str:
        return path.split(".", 1)[0] if jira else path

    out: set[str] = set() if jira else {"sys_id", "number"}
    for spec in mapping.fields.values():
        if CONVERTERS[spec.converter].name == "sn-approvals":
            continue
        out.update(column(p) for p in spec.sources)
    if mapping.status is not None:
        out.add(column(mapping.status.source))
        for rule in mapping.status.rules:
            out.update(column(p) for p in rule.when)
    for action in mapping.actions.values():
        out.update(action.fields)
        if not jira:
            out.add("state")
    return out


def referenced_transitions(mapping: Mapping) -> set[str]:
    """Jira transition names the actions use (empty for ServiceNow, which sets `state`)."""
    return {a.transition for a in mapping.actions.values() if a.transition}


def referenced_statuses(mapping: Mapping) -> dict[str, Status]:
    """The native status names (Jira) or state values (ServiceNow) the status map knows."""
    return dict(mapping.status.map) if mapping.status is not None else {}

"""Step 1 of the pipeline: one raw ticket + its mapping -> a normalized `Change`.

Pure: no I/O, no clock, no client library; the adapters in `connector/systems` fetch the raw
ticket (and, for ServiceNow, its approval rows) and hand them over as a `RawTicket`. Identity
(key, native id, URL) comes from the ticket itself; every other attribute from the mapping.
Missing or empty source values give the model's defaults (or the field's `default`); a value the
mapping cannot convert raises `SkipRecord` with one line naming the ticket, field and value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from connector.errors import ConfigError, SkipRecord
from connector.mapping.converters import (
    CONVERTERS,
    Context,
    ConvertError,
    is_empty,
    lookup,
    scalar,
    shown,
)
from connector.mapping.schema import FieldSpec, Mapping, StatusSpec
from connector.mapping.targets import TARGETS
from connector.model import Change, Source, Status, SystemKind

_UNSET: Any = object()


@dataclass(frozen=True)
class RawTicket:
    """A ticket as read: the Jira issue dict or the ServiceNow record, plus related rows.

    `related` maps a table name to rows read for this ticket, e.g.
    `{"sysapproval_approver": [...]}`; fields with converter `sn-approvals` read from it.
    """

    data: dict[str, Any]
    related: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def normalize(
    raw: RawTicket | dict[str, Any], *, mapping: Mapping, source: Source, base_url: str
) -> Change:
    """Build the `Change` for one ticket; `base_url` is the instance's browser URL."""
    ticket = raw if isinstance(raw, RawTicket) else RawTicket(data=raw)
    jira = mapping.system == "jira"
    if jira != (source.kind is not SystemKind.SERVICENOW):
        raise ConfigError(
            f"mapping for {mapping.system} used with source {source.instance!r} ({source.kind})"
        )
    base = base_url.rstrip("/")
    if jira:
        key, native_id = _identity(ticket.data, "key", "id")
        url = f"{base}/browse/{key}"
        fields = ticket.data.get("fields")
        root: dict[str, Any] = fields if isinstance(fields, dict) else {}
    else:
        key, native_id = _identity(ticket.data, "number", "sys_id")
        url = f"{base}/nav_to.do?uri={mapping.scope.table}.do?sys_id={native_id}"
        root = ticket.data
    ctx = Context(key=key, native_id=native_id, base_url=base)

    values: dict[str, Any] = {"source": source, "key": key, "native_id": native_id, "url": url}
    nested: dict[str, dict[str, Any]] = {}
    for attr, spec in mapping.fields.items():
        value = _field(attr, spec, root, ticket, ctx)
        if value is _UNSET:
            continue
        parent, _, part = attr.rpartition(".")
        if parent:
            nested.setdefault(parent, {})[part] = value
        else:
            values[attr] = value
    values.update(nested)
    if mapping.status is not None:
        values["status"], values["native_status"] = _status(mapping.status, root, key)
    try:
        return Change.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "change"
        message = " ".join(str(first["msg"]).split())
        raise SkipRecord(f"{key}: {where}: {message}") from None


def _identity(data: dict[str, Any], key_name: str, id_name: str) -> tuple[str, str]:
    try:
        key, native_id = scalar(data.get(key_name)), scalar(data.get(id_name))
    except ConvertError:
        key = native_id = None
    if not key or not native_id:
        label = key or native_id or "<unknown ticket>"
        raise SkipRecord(f"{label}: ticket has no {key_name!r} or no {id_name!r}")
    return key, native_id


def resolve(root: dict[str, Any], path: str) -> Any:
    """A dotted path into the raw ticket: `status`, `fixVersions.0.name`, `requested_by.email`.

    An exact key wins over walking, because ServiceNow returns dot-walked columns as flat keys.
    """
    if path in root:
        return root[path]
    value: Any = root
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        else:
            return None
    return value


def _field(
    attr: str, spec: FieldSpec, root: dict[str, Any], ticket: RawTicket, ctx: Context
) -> Any:
    converter = CONVERTERS[spec.converter]
    target = TARGETS[attr]
    has_default = "default" in spec.model_fields_set
    fallback = spec.default if has_default else _UNSET
    related = converter.name == "sn-approvals"
    raw, path = None, spec.sources[0]
    for path in spec.sources:
        raw = ticket.related.get(path) if related else resolve(root, path)
        if not is_empty(raw):
            break
    if is_empty(raw):
        return fallback

    def skip(problem: str) -> SkipRecord:
        return SkipRecord(f"{ctx.key}: fields.{attr} ({path}): {problem}")

    try:
        value = converter.read(raw, Context(ctx.key, ctx.native_id, ctx.base_url, spec.map))
    except ConvertError as exc:
        raise skip(str(exc)) from None
    if converter.output not in ("one", "many"):
        return fallback if is_empty(value) else value

    tokens = value if isinstance(value, tuple) else (value,)
    out: list[Any] = []
    for token in tokens:
        if token is None or token == "":
            continue
        mapped = token
        if spec.map is not None:
            found, mapped = lookup(spec.map, str(token))
            if not found:
                raise skip(f"value {shown(token)} is not in the map (add it to fields.{attr}.map)")
            if mapped == "":
                continue  # mapped to "no value" on purpose
        try:
            item = (
                _item(attr, mapped)
                if isinstance(mapped, str | bool | int)
                else (target.item.validate_python(mapped))
            )
        except ValidationError:
            raise skip(f"value {shown(token)} is not valid: expected {target.describe()}") from None
        if item not in out:
            out.append(item)
    if target.many:
        return tuple(out) if out else fallback
    # A list converter feeding a one-value attribute (fixVersions -> release) takes the first.
    return out[0] if out else fallback


@lru_cache(maxsize=8192)
def _item(attr: str, value: str | bool | int) -> Any:
    """One value validated for an attribute; option values repeat on every ticket."""
    return TARGETS[attr].item.validate_python(value)


def _status(spec: StatusSpec, root: dict[str, Any], key: str) -> tuple[Status, str]:
    """Rules first, in file order; then the map over the source value; then the default."""
    try:
        native = scalar(resolve(root, spec.source)) or ""
        for rule in spec.rules:
            if all(_matches(resolve(root, path), want) for path, want in rule.when.items()):
                return rule.status, native
    except ConvertError as exc:
        raise SkipRecord(f"{key}: status ({spec.source}): {exc}") from None
    if not native:
        return spec.default or Status.DRAFT, native
    found, mapped = lookup(dict(spec.map), native)
    if found:
        return Status(mapped), native
    if spec.default is not None:
        return spec.default, native
    raise SkipRecord(
        f"{key}: status ({spec.source}): value {shown(native)} is not in the map "
        "(add it to status.map)"
    )


def _matches(raw: Any, want: str | list[str]) -> bool:
    have = (scalar(raw) or "").casefold()
    wanted = [want] if isinstance(want, str) else want
    return any(have == w.casefold() for w in wanted)

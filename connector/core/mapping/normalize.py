"""Step 1 of the pipeline: one raw ticket + its mapping -> a normalized `Change`.

Pure: no I/O, no clock, no client library; the adapters in `connector/systems` fetch the raw
ticket (and, for ServiceNow, its approval rows) and hand them over as a `RawTicket`. Identity
(key, native id, URL) comes from the ticket itself; every other attribute from the mapping.
Missing or empty source values give the model's defaults (or the field's `default`); a value the
mapping cannot convert raises `SkipRecord` with one line naming the ticket, field and value.

A mapping is compiled once (per mapping object) into one reader per field, with its converter,
target, value map and default resolved up front: a worker applies the same mapping to every
ticket of a source, so only the ticket's own values are worked on per ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from connector.core.errors import ConfigError, SkipRecord
from connector.core.mapping.converters import CONVERTERS, text_as_is
from connector.core.mapping.raw import Context, ConvertError, is_empty, scalar, shown
from connector.core.mapping.schema import FieldSpec, Mapping, StatusSpec
from connector.core.mapping.targets import TARGETS
from connector.core.memo import per_object
from connector.core.model import Change, Source, Status, SystemKind

_UNSET: Any = object()

# A field's reader: (the dict its paths start from, the ticket's related rows, the ticket's
# context) -> the attribute's value, or _UNSET to leave the attribute to the model's default.
Reader = Callable[[dict[str, Any], dict[str, Any], Context], Any]
_NO_RELATED: dict[str, Any] = {}  # a ticket given as a plain dict has none (only read)
_OPTION_TYPES = (str, bool, int)  # what a mapped token may be without a validator call


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
    data, related = (raw.data, raw.related) if isinstance(raw, RawTicket) else (raw, _NO_RELATED)
    jira = mapping.system == "jira"
    if jira != (source.kind is not SystemKind.SERVICENOW):
        raise ConfigError(
            f"mapping for {mapping.system} used with source {source.instance!r} ({source.kind})"
        )
    compiled = _compiled(mapping)
    base = base_url.rstrip("/")
    if jira:
        key, native_id = _identity(data, "key", "id")
        url = f"{base}/browse/{key}"
        fields = data.get("fields")
        root: dict[str, Any] = fields if isinstance(fields, dict) else {}
    else:
        key, native_id = _identity(data, "number", "sys_id")
        url = f"{base}/nav_to.do?uri={mapping.scope.table}.do?sys_id={native_id}"
        root = data
    ctx = Context(key=key, native_id=native_id, base_url=base)

    values: dict[str, Any] = {"source": source, "key": key, "native_id": native_id, "url": url}
    nested: dict[str, dict[str, Any]] = {}
    # In file order, so the first field that cannot be read is the one reported.
    for attr, parent, part, read in compiled.fields:
        value = read(root, related, ctx)
        if value is _UNSET:
            continue
        if parent:
            nested.setdefault(parent, {})[part] = value
        else:
            values[attr] = value
    values.update(nested)
    if compiled.status is not None:
        values["status"], values["native_status"] = compiled.status(root, key)
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


# ---- the compiled mapping ---------------------------------------------------------------------


StatusReader = Callable[[dict[str, Any], str], tuple[Status, str]]


@dataclass(frozen=True)
class _Compiled:
    fields: tuple[tuple[str, str, str, Reader], ...]  # (attribute, parent, part, reader)
    status: StatusReader | None


@per_object
def _compiled(mapping: Mapping) -> _Compiled:
    readers = []
    for attr, spec in mapping.fields.items():
        parent, _, part = attr.rpartition(".")
        readers.append((attr, parent, part, _reader(attr, spec)))
    status = _status_reader(mapping.status) if mapping.status is not None else None
    return _Compiled(fields=tuple(readers), status=status)


def _finder(value_map: dict[str, Any]) -> Callable[[str], tuple[bool, Any]]:
    """`converters.lookup` over one map, its case-folded keys computed once: exact key first,
    then ignoring case (the first such key in file order), then the `"*"` catch-all."""
    folded: dict[str, Any] = {}
    for key, mapped in value_map.items():
        folded.setdefault(key.casefold(), mapped)
    star = ("*" in value_map, value_map.get("*"))
    missing = (False, None)

    def find(token: str) -> tuple[bool, Any]:
        if token in value_map:
            return True, value_map[token]
        hit = folded.get(token.casefold(), _UNSET)
        if hit is not _UNSET:
            return True, hit
        return star if star[0] else missing

    return find


def _reader(attr: str, spec: FieldSpec) -> Reader:
    """The reader of one `[fields.<attr>]` entry: the first source with a value, converted; for
    token converters each token mapped and checked against the attribute's type."""
    converter = CONVERTERS[spec.converter]
    target = TARGETS[attr]
    fallback = spec.default if "default" in spec.model_fields_set else _UNSET
    paths = spec.sources
    convert = converter.read
    related = converter.name == "sn-approvals"
    value_map = spec.map
    find = _finder(value_map) if value_map is not None else None
    tokens_out = converter.output in ("one", "many")
    many = target.many
    # A text attribute takes any text as it is: no validator call (and no cache) per text.
    plain_text = target.item.core_schema == {"type": "str"}
    # Option values (enums, yes/no) repeat on every ticket: each is checked once per mapping.
    options: dict[Any, Any] | None = {} if target.kind in ("enum", "enums", "bool") else None
    describe = target.describe()
    one_key = len(paths) == 1 and not related and "." not in paths[0]
    as_is = text_as_is(converter)

    def skip(ctx: Context, path: str, problem: str) -> SkipRecord:
        return SkipRecord(f"{ctx.key}: fields.{attr} ({path}): {problem}")

    def item(token: Any, ctx: Context, path: str) -> Any:
        """The attribute's value for one token (mapped, checked), or _UNSET for "no value"."""
        mapped = token
        if find is not None:
            found, mapped = find(str(token))
            if not found:
                problem = f"value {shown(token)} is not in the map (add it to fields.{attr}.map)"
                raise skip(ctx, path, problem)
            if mapped == "":
                return _UNSET  # mapped to "no value" on purpose
        if plain_text and type(mapped) is str:
            return mapped
        try:
            if not isinstance(mapped, _OPTION_TYPES):
                return target.item.validate_python(mapped)
            if options is None:
                return _item(attr, mapped)
            value = options.get(mapped, _UNSET)
            if value is _UNSET:
                value = options[mapped] = target.item.validate_python(mapped)
            return value
        except ValidationError:
            problem = f"value {shown(token)} is not valid: expected {describe}"
            raise skip(ctx, path, problem) from None

    def read(root: dict[str, Any], related_rows: dict[str, Any], ctx: Context) -> Any:
        if one_key:  # most fields: one top-level key
            path = paths[0]
            raw = root.get(path)
            if raw is None or is_empty(raw):
                return fallback
        else:
            for path in paths:
                if related:
                    raw = related_rows.get(path)
                elif path in root or "." not in path:
                    raw = root.get(path)
                else:
                    raw = resolve(root, path)
                if not is_empty(raw):
                    break
            else:
                return fallback
        if as_is and type(raw) is str:
            value = raw  # what the converter would return
        else:
            # Token converters leave the map to the step below; typed ones (approvals) read it.
            field_ctx = ctx if tokens_out or value_map is None else _with_map(ctx, value_map)
            try:
                value = convert(raw, field_ctx)
            except ConvertError as exc:
                raise skip(ctx, path, str(exc)) from None
        if not tokens_out:
            return fallback if is_empty(value) else value
        if type(value) is str:  # one token: the loop below, without the list
            if value == "":
                return fallback
            one = item(value, ctx, path)
            if one is _UNSET:
                return fallback
            return (one,) if many else one
        out: list[Any] = []
        for token in value if isinstance(value, tuple) else (value,):
            if token is None or token == "":
                continue
            one = item(token, ctx, path)
            if one is not _UNSET and one not in out:
                out.append(one)
        if many:
            return tuple(out) if out else fallback
        # A list converter feeding a one-value attribute (fixVersions -> release) takes the first.
        return out[0] if out else fallback

    return read


def _with_map(ctx: Context, value_map: dict[str, Any]) -> Context:
    return Context(ctx.key, ctx.native_id, ctx.base_url, value_map)


@lru_cache(maxsize=8192)
def _item(attr: str, value: str | bool | int) -> Any:
    """One value validated for an attribute that is neither text nor an option (numbers)."""
    return TARGETS[attr].item.validate_python(value)


def _status_reader(spec: StatusSpec) -> StatusReader:
    """Rules first, in file order; then the map over the source value; then the default."""
    rules = [
        (tuple((path, _wanted(want)) for path, want in rule.when.items()), rule.status)
        for rule in spec.rules
    ]
    find = _finder(dict(spec.map))
    source = spec.source

    def read(root: dict[str, Any], key: str) -> tuple[Status, str]:
        try:
            native = scalar(resolve(root, source)) or ""
            for when, status in rules:
                if all(_folded(resolve(root, path)) in wanted for path, wanted in when):
                    return status, native
        except ConvertError as exc:
            raise SkipRecord(f"{key}: status ({source}): {exc}") from None
        if not native:
            return spec.default or Status.DRAFT, native
        found, mapped = find(native)
        if found:
            return Status(mapped), native
        if spec.default is not None:
            return spec.default, native
        raise SkipRecord(
            f"{key}: status ({source}): value {shown(native)} is not in the map "
            "(add it to status.map)"
        )

    return read


def _wanted(want: str | list[str]) -> frozenset[str]:
    return frozenset(w.casefold() for w in ([want] if isinstance(want, str) else want))


def _folded(raw: Any) -> str:
    return (scalar(raw) or "").casefold()

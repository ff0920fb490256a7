"""Straightforward versions of code that has fast paths, kept as the oracle the tests compare
the fast code with: same input, same output (or the same error), by construction of the test.

Not used by the product. When the behaviour changes on purpose, change both.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import ValidationError

from connector.core.errors import ConfigError, SkipRecord
from connector.core.mapping import markup
from connector.core.mapping.converters import CONVERTERS
from connector.core.mapping.normalize import RawTicket, _identity, resolve
from connector.core.mapping.raw import Context, ConvertError, lookup, scalar, shown
from connector.core.mapping.schema import FieldSpec, Mapping, StatusSpec
from connector.core.mapping.targets import TARGETS
from connector.core.model import FINGERPRINT_EXCLUDED, Change, Source, Status, SystemKind
from connector.core.notes import escape
from connector.core.policy.facts import COVERED

_UNSET: Any = object()


def wiki_to_text(text: str) -> str:
    """Every wiki rule on every text, in order (markup.wiki_to_text skips rules that cannot
    match)."""
    text = text.replace("\r\n", "\n").replace(markup._OPEN, "").replace(markup._CLOSE, "")
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"{markup._OPEN}{len(kept) - 1}{markup._CLOSE}"

    text = markup._CODE_BLOCK.sub(lambda m: keep(m.group(2)), text)
    text = markup._MONOSPACE.sub(lambda m: keep(m.group(1)), text)
    text = markup._LINE_BREAK.sub("\n", text)
    text = markup._ESCAPE.sub(lambda m: keep(m.group(1)), text)
    text = markup._MACRO.sub("", text)
    text = markup._MENTION.sub(lambda m: keep("@" + m.group(1).strip()), text)
    text = markup._ALIAS_LINK.sub(lambda m: m.group(1).strip(), text)
    text = markup._BARE_LINK.sub(lambda m: keep(m.group(1).strip()), text)
    text = markup._IMAGE.sub(lambda m: keep(m.group(1)), text)
    text = markup._RULE.sub("", text)
    text = markup._HEADING.sub("", text)
    text = markup._TABLE_ROW.sub(
        lambda m: " | ".join(c.strip() for c in markup._TABLE_CELL.split(m[1])), text
    )
    text = markup._BULLET.sub("- ", text)
    for _ in range(4):
        before = text
        for _marker, effect in markup._EFFECTS:
            text = effect.sub(r"\1", text)
        if text == before:
            break
    for _ in range(3):
        text = markup._PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
    return tidy(text)


def tidy(text: str) -> str:
    return markup._BLANK_LINES.sub("\n\n", markup._TRAILING_SPACE.sub("", text)).strip()


def normalize(
    raw: RawTicket | dict[str, Any], *, mapping: Mapping, source: Source, base_url: str
) -> Change:
    """Every field's converter, target and map looked up per ticket, every value through its
    validator (normalize compiles a mapping once into per-field readers)."""
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
                continue
        try:
            mapped = target.item.validate_python(mapped)
        except ValidationError:
            raise skip(f"value {shown(token)} is not valid: expected {target.describe()}") from None
        if mapped not in out:
            out.append(mapped)
    if target.many:
        return tuple(out) if out else fallback
    return out[0] if out else fallback


def _status(spec: StatusSpec, root: dict[str, Any], key: str) -> tuple[Status, str]:
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


def is_empty(value: Any) -> bool:
    """converters.is_empty without its shortcuts by type."""
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, dict) and ("value" in value or "display_value" in value):
        return all(value.get(k) in (None, "") for k in ("value", "display_value"))
    return False


def fingerprint(change: Change) -> str:
    """The digest through the json module (Change.fingerprint writes the same text by orjson)."""
    data = change.model_dump(mode="json", exclude=FINGERPRINT_EXCLUDED)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def covered_fields(change: Change) -> dict[str, str]:
    """The approval basis digests through `json.dumps` (engine.covered_fields writes the common
    values itself)."""
    data = change.model_dump(mode="json", include=set(COVERED))
    return {
        name: hashlib.sha256(json.dumps(data.get(name), sort_keys=True).encode()).hexdigest()[:16]
        for name in COVERED
    }


_WIKI_SPECIAL = re.compile(r"([*_\-+^~?{}\[\]|!#])")


def wiki_escape(text: str) -> str:
    """`notes.escape.wiki` as four substitutions, each over the whole text."""
    text = escape.clean(text).replace("\\", "\\" + escape.ZWSP)
    text = _WIKI_SPECIAL.sub(r"\\\1", text)
    text = escape._WIKI_BLOCK.sub(lambda m: m[1] + escape.ZWSP, text)
    return escape._WIKI_SCHEME.sub(lambda m: (m[1] or m[2]) + escape.ZWSP, text)

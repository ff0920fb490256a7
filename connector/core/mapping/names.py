"""Jira fields named by name: resolve `source = { name = "..." }` against the site's fields.

Custom field ids differ on every Jira site (the same JSM change field is `customfield_10042`
here and `customfield_10317` there), so a mapping may name a field as admins see it. When a
Jira source is opened, the shell reads `GET /field` once and hands the (id, name) pairs to
`resolve_names`, which returns the mapping with plain field ids in place of names: the
normalizer never sees a name. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from connector.core.errors import MappingError
from connector.core.mapping.schema import FieldRef, FieldSpec, Mapping, dotted


def has_names(mapping: Mapping) -> bool:
    """Whether any field of the mapping is named by name (the site must be asked)."""
    return any(spec.named for spec in mapping.fields.values())


def resolve_names(
    mapping: Mapping, site_fields: Iterable[tuple[str, str]], *, file: str
) -> Mapping:
    """The mapping with every `{ name = ... }` source replaced by the site's field id.

    `site_fields` are the (id, name) pairs of `GET /field`. A name matches exactly, else
    ignoring case; no match, or several fields of that name, is a `MappingError` naming the
    file, the key and what the site has, since guessing would read another field's values.
    """
    if not has_names(mapping):
        return mapping
    exact: dict[str, list[str]] = defaultdict(list)
    folded: dict[str, list[str]] = defaultdict(list)
    for field_id, name in site_fields:
        exact[name].append(field_id)
        folded[name.casefold()].append(field_id)
    fields = {}
    for attr, spec in mapping.fields.items():
        if not spec.named:
            fields[attr] = spec
            continue
        key = f"{dotted('fields', attr)}.source"
        fields[attr] = _resolved(spec, exact, folded, file=file, key=key)
    return mapping.model_copy(update={"fields": fields})


def _resolved(
    spec: FieldSpec,
    exact: dict[str, list[str]],
    folded: dict[str, list[str]],
    *,
    file: str,
    key: str,
) -> FieldSpec:
    def one(path: str | FieldRef) -> str:
        if isinstance(path, str):
            return path
        ids = exact.get(path.name) or folded.get(path.name.casefold()) or []
        if not ids:
            raise MappingError(
                file=file, key=key, problem=f"the site has no field named {path.name!r}"
            )
        if len(ids) > 1:
            raise MappingError(
                file=file,
                key=key,
                problem=f"{len(ids)} fields are named {path.name!r} ({', '.join(sorted(ids))}): "
                "name the one you mean by its id",
            )
        return f"{ids[0]}.{path.path}" if path.path else ids[0]

    source = (
        tuple(one(p) for p in spec.source) if isinstance(spec.source, tuple) else one(spec.source)
    )
    return spec.model_copy(update={"source": source})

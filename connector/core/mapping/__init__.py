"""Field mappings: admin-edited `mappings/*.toml` files and the normalize step that applies them.

A mapping file says, for one source system, which tickets are changes (`[scope]`), where each
`Change` attribute comes from and how it is converted (`[fields.*]`), how native statuses map to
`Status` (`[status]`), and which transition or state change carries out each worker action
(`[actions.*]`). `normalize` turns a raw ticket into a `Change` with it (pipeline step 1).

Modules: `schema` (file models and meaning checks), `targets` (mappable Change attributes),
`converters` and `markup` (raw value -> model value), `loader` (files, `check`, live-check
helpers), `names` (Jira fields named by name), `normalize` (the pure step itself).
A live site's description for `mappings init` / `check --live`: `site` (the model), `site_read`
(documented response bodies -> site), `site_init` (site -> mapping text, with `vocabulary`),
`site_check` (mapping vs site -> one problem per line).
"""

from __future__ import annotations

from connector.core.mapping.converters import CONVERTERS, Converter
from connector.core.mapping.loader import (
    CheckResult,
    check,
    check_files,
    load_mapping,
    load_mappings,
    parse_mapping,
    referenced_fields,
    referenced_statuses,
    referenced_transitions,
)
from connector.core.mapping.markup import adf_to_text, wiki_to_text
from connector.core.mapping.names import has_names, resolve_names
from connector.core.mapping.normalize import RawTicket, normalize
from connector.core.mapping.schema import (
    ActionSpec,
    FieldRef,
    FieldSpec,
    Mapping,
    Scope,
    StatusRule,
    StatusSpec,
    WorkerAction,
)

__all__ = [
    "CONVERTERS",
    "ActionSpec",
    "CheckResult",
    "Converter",
    "FieldRef",
    "FieldSpec",
    "Mapping",
    "RawTicket",
    "Scope",
    "StatusRule",
    "StatusSpec",
    "WorkerAction",
    "adf_to_text",
    "check",
    "check_files",
    "has_names",
    "load_mapping",
    "load_mappings",
    "normalize",
    "parse_mapping",
    "referenced_fields",
    "referenced_statuses",
    "referenced_transitions",
    "resolve_names",
    "wiki_to_text",
]

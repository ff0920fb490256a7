"""The shape of a mapping file (`mappings/*.toml`), as frozen pydantic models.

Structure (types, unknown keys) is checked by pydantic; meaning (is `change_klass` a Change
attribute, does converter `user` fit `title`, is "huge" a change class, is `aproved` an action)
is checked by `Mapping`'s validator against `targets.TARGETS` and `converters.CONVERTERS`. Those
checks raise `MappingProblem(key, problem)`, which is deliberately not a ValueError: pydantic lets
it through untouched, and the loader adds the file name to make a one-line `MappingError`.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.core.mapping.converters import CONVERTERS
from connector.core.mapping.targets import IDENTITY, NESTED, REQUIRED, STATUS_ATTRS, TARGETS, Target
from connector.core.model import Decision, Status


class MappingProblem(Exception):
    """A meaning error in a mapping: `key` is the dotted key in the file, `problem` one line."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class WorkerAction(StrEnum):
    """What the worker may do to a ticket; each maps to a Jira transition or a SN state change."""

    NEEDS_INFO = "needs_info"
    RESUBMIT = "resubmit"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    UNAUTHORIZED_REVERT = "unauthorized_revert"
    DRIFT = "drift"  # an approved change edited after approval: back to the approvers
    DEPLOYED = "deployed"  # a successful authorized deploy: on to implementing / review


OPTIONAL_ACTIONS = frozenset(
    {
        WorkerAction.RESUBMIT,
        WorkerAction.UNAUTHORIZED_REVERT,
        WorkerAction.DRIFT,
        WorkerAction.DEPLOYED,
    }
)


def _token(value: Any) -> Any:
    """TOML gives ints and bools where ServiceNow has strings ("-3", "true"); compare as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def dotted(*parts: str | int) -> str:
    """A TOML-style dotted key; parts that are not bare keys are quoted, list indexes 1-based."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, int):
            out[-1:] = [f"{out[-1] if out else ''}[{part + 1}]"]
        elif part and all(c.isalnum() or c in "_-." for c in part):
            out.append(part)
        else:
            out.append('"' + part.replace('"', '\\"') + '"')
    return ".".join(out)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldRef(_Frozen):
    """`source = { name = "Change risk" }`: a Jira field named as admins see it.

    Custom field ids differ on every site, names do not; the worker resolves the name against
    the site's `GET /field` when it opens the source (`mapping.names`). `path` reaches inside
    the value as a dotted source path does (`{ name = "Fix versions", path = "0.name" }`).
    """

    name: str = Field(min_length=1)
    path: str = ""


SourcePath = str | FieldRef


class FieldSpec(_Frozen):
    """`[fields.<attribute>]`: where the value comes from and how it is converted."""

    source: SourcePath | tuple[SourcePath, ...]  # a list means: the first one that has a value
    converter: str
    map: dict[str, str | bool | int | float] | None = None
    default: Any = None

    @property
    def sources(self) -> tuple[str, ...]:
        """The source paths; a field named by name must have been resolved first."""
        paths = self.source if isinstance(self.source, tuple) else (self.source,)
        for path in paths:
            if isinstance(path, FieldRef):
                raise MappingProblem(
                    "source", f"field name {path.name!r} was not resolved against the site"
                )
        return paths  # type: ignore[return-value]

    @property
    def named(self) -> tuple[FieldRef, ...]:
        """The sources named by field name (resolved when the source is opened)."""
        paths = self.source if isinstance(self.source, tuple) else (self.source,)
        return tuple(p for p in paths if isinstance(p, FieldRef))

    @field_validator("source")
    @classmethod
    def _not_blank(
        cls, value: SourcePath | tuple[SourcePath, ...]
    ) -> SourcePath | tuple[SourcePath, ...]:
        paths = value if isinstance(value, tuple) else (value,)
        if not paths or any(isinstance(p, str) and not p.strip() for p in paths):
            raise ValueError("source must name a field (or a non-empty list of fields)")
        return value


class StatusRule(_Frozen):
    """`[[status.rules]]`: if every `when` field has (one of) the value(s), the status is this."""

    when: dict[str, str | list[str]] = Field(min_length=1)
    status: Status

    @field_validator("when", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            k: [_token(x) for x in v] if isinstance(v, list) else _token(v)
            for k, v in value.items()
        }


class StatusSpec(_Frozen):
    """`[status]`: rules first (in order), then the map over the source field's value."""

    source: str
    map: dict[str, Status]
    rules: tuple[StatusRule, ...] = ()
    default: Status | None = None


class ActionSpec(_Frozen):
    """`[actions.<action>]`: a Jira transition by name, or a ServiceNow state change."""

    transition: str = ""
    state: str = ""
    fields: dict[str, Any] = {}

    @field_validator("state", mode="before")
    @classmethod
    def _state_text(cls, value: Any) -> Any:
        return _token(value)


class Scope(_Frozen):
    """`[scope]`: which tickets are changes. Jira keys and ServiceNow keys are exclusive."""

    projects: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    jql: str = ""
    table: str = "change_request"
    approvals_table: str = "sysapproval_approver"
    query: str = ""


_SCOPE_KEYS = {
    "jira": ("projects", "issue_types", "jql"),
    "servicenow": ("table", "approvals_table", "query"),
}


class Mapping(_Frozen):
    """A validated mapping file."""

    system: Literal["jira", "servicenow"]
    scope: Scope = Scope()
    fields: dict[str, FieldSpec]
    status: StatusSpec | None = None
    actions: dict[str, ActionSpec] = {}

    @model_validator(mode="before")
    @classmethod
    def _flatten_nested(cls, data: Any) -> Any:
        # `[fields.security.level]` nests in TOML; store it as "security.level" like the model.
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
            return data
        flat: dict[str, Any] = {}
        for name, spec in data["fields"].items():
            nested = name in NESTED and isinstance(spec, dict)
            if nested and "source" not in spec and "converter" not in spec:
                flat.update({f"{name}.{part}": sub for part, sub in spec.items()})
            else:
                flat[name] = spec
        return {**data, "fields": flat}

    @model_validator(mode="after")
    def _check_meaning(self) -> Mapping:
        self._check_scope()
        for attr, spec in self.fields.items():
            self._check_field(attr, spec)
        for attr in REQUIRED:
            if attr not in self.fields:
                raise MappingProblem(
                    dotted("fields", attr), "required: the Change model needs a source for it"
                )
        self._check_actions()
        return self

    def _check_scope(self) -> None:
        own = _SCOPE_KEYS[self.system]
        for key in self.scope.model_fields_set - set(own):
            raise MappingProblem(
                dotted("scope", key),
                f"not used by {self.system} mappings (use: {', '.join(own)})",
            )
        if self.system == "jira" and not self.scope.projects:
            raise MappingProblem("scope.projects", "name at least one Jira project key")

    def _check_field(self, attr: str, spec: FieldSpec) -> None:
        key = dotted("fields", attr)
        target = TARGETS.get(attr)
        if target is None:
            raise MappingProblem(key, _why_not_attribute(attr))
        if spec.named and self.system != "jira":
            raise MappingProblem(
                f"{key}.source",
                "{ name = ... } names Jira fields; a ServiceNow source is its column name",
            )
        converter = CONVERTERS.get(spec.converter)
        if converter is None:
            raise MappingProblem(
                f"{key}.converter",
                f"unknown converter {spec.converter!r}{_did_you_mean(spec.converter, CONVERTERS)}",
            )
        if self.system not in converter.systems:
            raise MappingProblem(
                f"{key}.converter", f"converter {spec.converter!r} is not for {self.system}"
            )
        if target.kind not in converter.targets:
            fits = sorted(n for n, c in CONVERTERS.items() if target.kind in c.targets)
            raise MappingProblem(
                f"{key}.converter",
                f"converter {spec.converter!r} cannot fill {attr!r}, which takes "
                f"{target.describe()} (use: {', '.join(fits)})",
            )
        if spec.map is not None:
            _check_map(key, spec, target, converter.output)
        if "default" in spec.model_fields_set:
            try:
                target.value.validate_python(spec.default)
            except ValidationError as exc:
                raise MappingProblem(
                    f"{key}.default",
                    f"{spec.default!r} is not valid for {attr!r}: expected {target.describe()}"
                    f" ({first_message(exc)})",
                ) from None

    def _check_actions(self) -> None:
        names = [a.value for a in WorkerAction]
        for name, action in self.actions.items():
            key = dotted("actions", name)
            if name not in names:
                raise MappingProblem(
                    key,
                    f"unknown action {name!r}{_did_you_mean(name, names)} (known: "
                    f"{', '.join(names)})",
                )
            if self.system == "jira" and (not action.transition or action.state):
                raise MappingProblem(key, "a Jira action names a `transition` (and no `state`)")
            if self.system == "servicenow" and (
                action.transition or not (action.state or action.fields)
            ):
                raise MappingProblem(
                    key, "a ServiceNow action sets a `state` and/or `fields` (no `transition`)"
                )
        for action_name in WorkerAction:
            if action_name not in OPTIONAL_ACTIONS and action_name.value not in self.actions:
                raise MappingProblem(
                    dotted("actions", action_name.value), "required action missing"
                )

    def action(self, name: WorkerAction | str) -> ActionSpec | None:
        """The configured action, or None if the mapping leaves it out (it is optional)."""
        return self.actions.get(str(name))


def _check_map(key: str, spec: FieldSpec, target: Target, output: str) -> None:
    assert spec.map is not None
    if output in ("person", "datetime", "links"):
        raise MappingProblem(f"{key}.map", f"converter {spec.converter!r} does not use a value map")
    for raw, value in spec.map.items():
        if value == "":
            continue  # "" means: no value (the attribute keeps its default)
        try:
            if output == "approvals":
                Decision(str(value))
            else:
                target.item.validate_python(value)
        except (ValidationError, ValueError):
            expected = (
                "one of: " + ", ".join(d.value for d in Decision)
                if output == "approvals"
                else target.describe()
            )
            what = "approval decision" if output == "approvals" else f"value of {target.attr!r}"
            raise MappingProblem(
                dotted(key, "map", raw), f"{value!r} is not a valid {what} (expected {expected})"
            ) from None


def _did_you_mean(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _why_not_attribute(attr: str) -> str:
    if attr in IDENTITY:
        return f"{attr!r} is set from the ticket itself, not by a mapping"
    if attr in STATUS_ATTRS:
        return f"{attr!r} is mapped in the [status] section"
    if attr in NESTED:
        parts = ", ".join(t for t in TARGETS if t.startswith(f"{attr}."))
        return f"{attr!r} has parts; map them one by one: {parts}"
    return f"unknown Change attribute {attr!r}{_did_you_mean(attr, TARGETS)}"


def first_message(exc: ValidationError) -> str:
    """Pydantic's first error message, on one line, without its documentation link."""
    errors = exc.errors(include_url=False)
    return " ".join(str(errors[0]["msg"]).split()) if errors else "invalid"

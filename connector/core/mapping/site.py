"""What a live site says about itself, as far as a mapping depends on it: a frozen description.

The shell (`connector.commands.discovery`) reads it from Jira (`GET /field`, edit metadata, project
statuses, transitions of sample issues) or ServiceNow (`sys_dictionary`, `sys_choice`); the pure
`mapping.site_check` compares a mapping with it and `mapping.site_init` writes a mapping from it.
Nothing here does I/O: tests build sites from the documented response shapes directly.

A field's `kind` is what its value looks like: for Jira the `schema.type` of `FieldDetails`
(`array:<items>` for arrays: `array:option`, `array:version`...), for ServiceNow the dictionary's
`internal_type`. `options` is None when the site did not let the reader see them (a field whose
options are unknown is not checked value by value), else the allowed values as the API returns
them (Jira option `value` / object `name`; ServiceNow choice `value`, with `labels` beside).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SiteField(_Frozen):
    """One field (Jira) or column (ServiceNow) and, when readable, its allowed values."""

    id: str
    name: str
    kind: str
    custom: str = ""  # Jira: the custom field type key (`...:textarea`); SN: unused
    reference: str = ""  # ServiceNow: the referenced table of a reference / glide_list
    options: tuple[str, ...] | None = None
    labels: tuple[str, ...] = ()  # ServiceNow: the choice labels, in the order of `options`

    def label_of(self, value: str) -> str:
        """The label shown for a choice value (ServiceNow), or the value itself."""
        if self.options is not None and value in self.options and self.labels:
            return self.labels[self.options.index(value)]
        return value

    def describe(self) -> str:
        return self.name if self.name == self.id else f"{self.name} ({self.id})"


class SiteStatus(_Frozen):
    """A workflow status and its status category (`new`, `indeterminate`, `done`)."""

    name: str
    category: str = ""


class SiteTransition(_Frozen):
    """A transition as the reader saw it offered: from which statuses, to which one."""

    name: str
    to: str
    from_statuses: tuple[str, ...] = ()
    is_global: bool = False
    needs_resolution: bool = False
    resolutions: tuple[str, ...] = ()  # the resolutions its screen allows, when known

    def offered_from(self, status: str) -> bool:
        return self.is_global or any(s.casefold() == status.casefold() for s in self.from_statuses)


class Site(_Frozen):
    """One source's site: its fields, and for Jira its statuses and transitions."""

    system: Literal["jira", "servicenow"]
    source: str = ""
    table: str = ""  # ServiceNow: the change table the dictionary was read for
    projects: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    fields: tuple[SiteField, ...] = ()
    statuses: tuple[SiteStatus, ...] = ()
    transitions: tuple[SiteTransition, ...] = ()
    # Statuses an issue was sampled in: only from these is "not offered" known to be true.
    sampled: tuple[str, ...] = ()

    def field(self, field_id: str) -> SiteField | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def named(self, name: str) -> list[SiteField]:
        """Fields whose display name is `name` (case-insensitive): none, one, or ambiguous."""
        folded = name.casefold()
        return [f for f in self.fields if f.name.casefold() == folded]

    def status(self, name: str) -> SiteStatus | None:
        folded = name.casefold()
        return next((s for s in self.statuses if s.name.casefold() == folded), None)

    def transition(self, name: str) -> list[SiteTransition]:
        folded = name.casefold()
        return [t for t in self.transitions if t.name.casefold() == folded]

    def was_sampled(self, status: str) -> bool:
        return any(s.casefold() == status.casefold() for s in self.sampled)

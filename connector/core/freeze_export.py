"""The policy's freezes for the deploy tools: Argo CD sync windows and GitLab freeze periods.

Pure: `change-connector freeze export` passes the policy, the `[freeze_export]` settings and the
moment; this returns the document (Argo CD AppProject YAML, or the JSON list GitLab's Freeze
Periods API takes) and notes about freezes a cron schedule cannot say exactly.

Both tools repeat a cron schedule for ever and cron has no year: a one-off freeze becomes a
yearly one there, so one-off freezes that have already ended are left out and the others carry
their end in the notes (Argo CD: also in the window's description). Times are the freeze's
wall-clock times in its zone (`timeZone` / `cron_timezone`), as the policy reads them. Argo CD's
`duration` is elapsed time: a window that spans a daylight saving change ends an hour early or
late there; GitLab's `freeze_end` is a wall-clock time and has no such drift.

    [freeze_export.argocd]
    project = "payments"
    every_system = { applications = ["*"] }
    [freeze_export.argocd.systems.payments-api]
    applications = ["payments-*"]
    namespaces = ["payments"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, model_validator

from connector.core.policy.calendar import occurrences
from connector.core.policy.config import Freeze, PolicySettings

Format = Literal["argocd", "gitlab"]
FORMATS: tuple[Format, ...] = ("argocd", "gitlab")
_FAR = datetime.max.replace(tzinfo=UTC)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ArgoTargets(_Section):
    """What one sync window applies to (wildcards as Argo CD allows them)."""

    applications: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()

    def merged(self, other: ArgoTargets) -> ArgoTargets:
        return ArgoTargets(
            applications=tuple(dict.fromkeys(self.applications + other.applications)),
            namespaces=tuple(dict.fromkeys(self.namespaces + other.namespaces)),
            clusters=tuple(dict.fromkeys(self.clusters + other.clusters)),
        )


class ArgoCdExport(_Section):
    """`[freeze_export.argocd]`: the AppProject the windows go to, and what each system is
    in Argo CD. A system not listed is the application of the same name."""

    project: str = "default"
    namespace: str = "argocd"
    manual_sync: bool = False  # let people sync by hand inside a freeze
    every_system: ArgoTargets = ArgoTargets(applications=("*",))  # freezes without systems
    systems: dict[str, ArgoTargets] = {}

    @model_validator(mode="after")
    def _targets_named(self) -> ArgoCdExport:
        named = {
            "every_system": self.every_system,
            **{f"systems.{k}": v for k, v in self.systems.items()},
        }
        for where, targets in named.items():
            if not (targets.applications or targets.namespaces or targets.clusters):
                raise ValueError(f"{where}: name applications, namespaces or clusters")
        return self


class FreezeExportSettings(_Section):
    argocd: ArgoCdExport = ArgoCdExport()


@dataclass(frozen=True)
class _Cron:
    """One freeze as cron: start and end schedules in `zone`, and its wall-clock length."""

    freeze: Freeze
    start: str
    end: str
    zone: str
    length: timedelta
    note: str


@dataclass(frozen=True)
class Export:
    text: str
    notes: tuple[str, ...]


def export(
    policy: PolicySettings,
    *,
    fmt: Format,
    settings: FreezeExportSettings,
    now: datetime,
    system: str | None = None,
) -> Export:
    """The freezes (those touching `system`, if given) as `fmt`."""
    crons = [
        cron
        for freeze in policy.freezes
        if system is None or not freeze.systems or system in freeze.systems
        if (cron := _cron(freeze, policy, now)) is not None
    ]
    notes = tuple(c.note for c in crons if c.note)
    if fmt == "gitlab":
        return Export(_gitlab(crons), notes)
    return Export(_argocd(crons, settings.argocd), notes)


def _cron(freeze: Freeze, policy: PolicySettings, now: datetime) -> _Cron | None:
    first, end = next(occurrences(freeze, policy.zone(freeze.time_zone), until=_FAR))
    if freeze.recurrence == "none" and end <= now:
        return None  # over: as cron it would come back next year
    zone = first.tzinfo
    if isinstance(zone, ZoneInfo):
        name = zone.key
    else:  # a fixed offset: the same instants, recurring in UTC
        first, name = first.astimezone(UTC), "UTC"
    end = end.astimezone(first.tzinfo)
    length = end.replace(tzinfo=None) - first.replace(tzinfo=None)
    note = ""
    if freeze.recurrence == "none":
        note = (
            f"freeze {freeze.name!r} is one-off but cron repeats it every year: "
            f"remove it after {end.isoformat()}"
        )
    elif freeze.recurrence == "monthly" and max(first.day, end.day) > 28:
        note = f"freeze {freeze.name!r}: cron skips the months without day {first.day}"
    elif freeze.recurrence == "yearly" and (first.month, first.day) == (2, 29):
        note = f"freeze {freeze.name!r}: cron has it in leap years only"
    return _Cron(
        freeze=freeze,
        start=_schedule(first, freeze.recurrence),
        end=_schedule(end, freeze.recurrence),
        zone=name,
        length=length,
        note=note,
    )


def _schedule(at: datetime, recurrence: str) -> str:
    """minute hour day-of-month month day-of-week."""
    if recurrence == "weekly":
        return f"{at.minute} {at.hour} * * {(at.weekday() + 1) % 7}"  # cron: Sunday is 0
    if recurrence == "monthly":
        return f"{at.minute} {at.hour} {at.day} * *"
    return f"{at.minute} {at.hour} {at.day} {at.month} *"


def go_duration(length: timedelta) -> str:
    """A duration as Go's time.ParseDuration reads it (Argo CD's `duration`)."""
    minutes = int(length.total_seconds()) // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def _gitlab(crons: list[_Cron]) -> str:
    periods = [
        {"freeze_start": c.start, "freeze_end": c.end, "cron_timezone": c.zone} for c in crons
    ]
    return json.dumps(periods, indent=2) + "\n"


def _targets(freeze: Freeze, settings: ArgoCdExport) -> ArgoTargets:
    if not freeze.systems:
        return settings.every_system
    merged = ArgoTargets()
    for system in freeze.systems:
        merged = merged.merged(settings.systems.get(system, ArgoTargets(applications=(system,))))
    return merged


def _argocd(crons: list[_Cron], settings: ArgoCdExport) -> str:
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    lines = [
        "apiVersion: argoproj.io/v1alpha1",
        "kind: AppProject",
        "metadata:",
        f"  name: {q(settings.project)}",
        f"  namespace: {q(settings.namespace)}",
        "spec:",
        "  syncWindows:" + ("" if crons else " []"),
    ]
    for c in crons:
        description = f"Change freeze: {c.freeze.name}"
        if c.freeze.recurrence == "none":
            description += f" (one-off, until {c.freeze.end.isoformat()})"
        lines += [
            "  - kind: deny",
            f"    schedule: {q(c.start)}",
            f"    duration: {q(go_duration(c.length))}",
            f"    timeZone: {q(c.zone)}",
            f"    manualSync: {'true' if settings.manual_sync else 'false'}",
            f"    description: {q(description)}",
        ]
        targets = _targets(c.freeze, settings)
        for field in ("applications", "namespaces", "clusters"):
            values: tuple[str, ...] = getattr(targets, field)
            if values:
                lines.append(f"    {field}:")
                lines += [f"    - {q(v)}" for v in values]
    return "\n".join(lines) + "\n"

"""The `[policy]` tree of the config: what a change must state, who must approve it, and when.

Pure data, validated at start (unknown keys, bad time zones, freezes that end before they start
and unknown rule ids are config errors with their dotted path). The engine reads only this model;
`PolicySettings.digest()` identifies a policy version, so the worker re-evaluates every stored
change when an admin edits the policy.

    [policy]
    time_zone = "Europe/Berlin"
    [policy.required]
    major = ["implementation_plan", "test_plan", "planned_window", "justification"]
    [[policy.freezes]]
    name = "Year-end freeze"
    start = 2026-12-18T00:00:00
    end = 2027-01-04T00:00:00
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from connector.core.model import Audience
from connector.core.policy.findings import RULE_IDS


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Requirement(StrEnum):
    """Something a change must state; each names what the requester is asked to add."""

    AFFECTED_SYSTEMS = "affected_systems"
    AFFECTED_SERVICES = "affected_services"
    DEPARTMENTS = "departments"
    ROLLBACK_PLAN = "rollback_plan"
    IMPLEMENTATION_PLAN = "implementation_plan"
    TEST_PLAN = "test_plan"
    JUSTIFICATION = "justification"
    SECURITY = "security"
    OPERATIONAL_IMPACT = "operational_impact"
    EXPECTED_DOWNTIME = "expected_downtime"
    PLANNED_WINDOW = "planned_window"
    RISK = "risk"
    IMPLEMENTER = "implementer"
    EMERGENCY_APPROVER = "emergency_approver"
    AUDIENCES = "audiences"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as `datetime.weekday()` counts."""
        return _WEEKDAY_NUMBERS[self]


_WEEKDAY_NUMBERS = {day: n for n, day in enumerate(Weekday)}


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    """The zone of an IANA name, looked up once per process."""
    return ZoneInfo(name)


def _check_zone(value: str) -> str:
    if value:
        try:
            zone_info(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


def _require_zone(value: str) -> str:
    if not value:
        raise ValueError("a time zone is required (an IANA name, e.g. 'Europe/Berlin')")
    return _check_zone(value)


ZoneName = Annotated[str, AfterValidator(_check_zone)]  # empty: the policy's zone
RequiredZoneName = Annotated[str, AfterValidator(_require_zone)]


class ScopeRule(_Section):
    """`[policy.scope.<source>]`: narrows which tickets of a source are changes."""

    projects: tuple[str, ...] = ()
    issue_types: tuple[str, ...] = ()
    jql: str = ""  # Jira: ANDed with the mapping's scope
    query: str = ""  # ServiceNow: an encoded query, ANDed with the mapping's


class RequiredFields(_Section):
    """What each class of change must state, on top of `all`."""

    all: tuple[Requirement, ...] = (
        Requirement.AFFECTED_SYSTEMS,
        Requirement.ROLLBACK_PLAN,
        Requirement.SECURITY,
    )
    standard: tuple[Requirement, ...] = ()
    minor: tuple[Requirement, ...] = ()
    major: tuple[Requirement, ...] = (
        Requirement.IMPLEMENTATION_PLAN,
        Requirement.TEST_PLAN,
        Requirement.PLANNED_WINDOW,
        Requirement.JUSTIFICATION,
    )
    emergency: tuple[Requirement, ...] = (
        Requirement.JUSTIFICATION,
        Requirement.EMERGENCY_APPROVER,
    )

    def for_class(self, change_class: str) -> tuple[Requirement, ...]:
        extra: tuple[Requirement, ...] = getattr(self, change_class, ())
        return tuple(dict.fromkeys(self.all + extra))


class ApprovalPolicy(_Section):
    """Which approvals each class needs. Groups are matched by name, ignoring case."""

    cab_groups: tuple[str, ...] = ("CAB",)
    security_groups: tuple[str, ...] = ("Security",)
    # Who may record a board decision (`cab decide --by`): the members of cab_groups, by user
    # name, e-mail or id, matched ignoring case. Empty: nobody may.
    cab_members: tuple[str, ...] = ()
    # Standard changes need no approval when they name a template; empty: any template name.
    standard_templates: tuple[str, ...] = ()
    # Emergency changes: retroactive CAB review and post-implementation review within N days.
    emergency_review_days: Annotated[float, Field(gt=0)] = 5.0


class Freeze(_Section):
    """A freeze / blackout window. Naive times are wall-clock times in `time_zone`."""

    name: Annotated[str, Field(min_length=1)]
    start: datetime
    end: datetime
    time_zone: ZoneName = ""  # empty: the policy's time_zone
    recurrence: Literal["none", "weekly", "monthly", "yearly"] = "none"
    systems: tuple[str, ...] = ()  # empty: every system

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        start, end = self.start, self.end
        if (start.tzinfo is None) != (end.tzinfo is None):
            # One end in the policy's zone, not known here: compare the wall-clock times.
            start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
        if end <= start:
            raise ValueError(f"freeze {self.name!r} ends before it starts")
        return self


class MaintenanceWindow(_Section):
    """When the listed systems may be changed: on `days`, from `start` to `end` (local time;
    an end at or before the start means the window runs past midnight)."""

    systems: tuple[str, ...] = Field(min_length=1)
    days: tuple[Weekday, ...] = tuple(Weekday)
    start: time
    end: time
    time_zone: ZoneName = ""


class PolicySettings(_Section):
    time_zone: RequiredZoneName = "UTC"
    scope: dict[str, ScopeRule] = {}
    required: RequiredFields = RequiredFields()
    approvals: ApprovalPolicy = ApprovalPolicy()
    freezes: tuple[Freeze, ...] = ()
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    # Customer-facing changes: days of notice each audience must get before the planned start.
    notice_days: dict[Audience, Annotated[float, Field(ge=0)]] = {}
    # Rule ids to switch off, and severities to change ("block" | "warn").
    disabled_rules: tuple[str, ...] = ()
    severity: dict[str, Literal["block", "warn"]] = {}
    # Jira labels the worker sets: while findings are open, and on an unauthorized change.
    findings_label: str = "change-control"
    unauthorized_label: str = "change-control-unauthorized"

    @model_validator(mode="after")
    def _known_rules(self) -> PolicySettings:
        for name in (*self.disabled_rules, *self.severity):
            if name not in RULE_IDS:
                raise ValueError(f"unknown rule id {name!r} (known: {', '.join(RULE_IDS)})")
        return self

    def zone(self, name: str = "") -> ZoneInfo:
        return zone_info(name or self.time_zone)

    def digest(self) -> str:
        """Identifies this policy: a different digest means every change is evaluated again.
        The board's members decide nothing in an evaluation, so they are left out."""
        dumped = self.model_dump_json(exclude={"approvals": {"cab_members"}})
        return hashlib.sha256(dumped.encode()).hexdigest()

"""The normalized change model: what every Jira issue and ServiceNow change_request becomes.

Step 1 of the pipeline (normalize) produces a `Change`; policy, planner, reports and release notes
read only this model, never a raw ticket. Values are frozen pydantic models with aware datetimes,
so a `Change` can be hashed, compared, stored as JSON and read back unchanged.

`Change.fingerprint()` is the "essence" of a ticket: a digest over every field that policy reads,
excluding `updated` (and anything the connector writes itself), so the connector's own comments
and markers never make a ticket look changed and re-trigger it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from connector.core.canonical import plain_float


class Frozen(BaseModel):
    """Base of domain values: immutable, strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class SystemKind(StrEnum):
    JIRA_CLOUD = "jira-cloud"
    JIRA_DATACENTER = "jira-datacenter"
    SERVICENOW = "servicenow"


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangeClass(StrEnum):
    MINOR = "minor"
    MAJOR = "major"


class Risk(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very-high"


class SecurityLevel(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class InfoSecCategory(StrEnum):
    DATA_SHARING = "data-sharing"
    SECURITY_CONFIGURATION = "security-configuration"
    USER_ACCESS = "user-access"
    SYSTEM_USAGE = "system-usage"


class Audience(StrEnum):
    ALL_USERS = "all-users"
    ADMINS = "admins"
    ACCOUNT_OWNERS = "account-owners"
    SECURITY = "security"
    ENGINEERING = "engineering"


class Status(StrEnum):
    DRAFT = "draft"
    AWAITING_INFO = "awaiting-info"
    AWAITING_APPROVAL = "awaiting-approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    IMPLEMENTING = "implementing"
    REVIEW = "review"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Decision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    NOT_REQUESTED = "not-requested"


class CabDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DEFER = "defer"
    MORE_INFO = "more-info"


class Outcome(StrEnum):
    """How a finished change went: what compliance reports count as change success."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


class Source(Frozen):
    """Which instance a change came from: the name given in the config, and the system kind."""

    instance: Annotated[str, Field(min_length=1)]
    kind: SystemKind


class Person(Frozen):
    """A user as the source knows them: a stable id (accountId, user name or sys_id) and a name."""

    id: Annotated[str, Field(min_length=1)]
    name: str = ""
    email: str = ""


class Approval(Frozen):
    approver: Person
    group: str = ""
    decision: Decision = Decision.PENDING
    decided_at: AwareDatetime | None = None
    comment: str = ""


class SecurityImpact(Frozen):
    level: SecurityLevel | None = None
    categories: tuple[InfoSecCategory, ...] = ()
    notes: str = ""

    @property
    def assessed(self) -> bool:
        return self.level is not None


class Link(Frozen):
    relation: str
    target: str
    url: str = ""


class Change(Frozen):
    """One change ticket, whatever system it lives in."""

    source: Source
    key: Annotated[str, Field(min_length=1)]
    native_id: Annotated[str, Field(min_length=1)]
    url: str = ""
    title: str = ""
    description: str = ""
    change_type: ChangeType | None = None
    change_class: ChangeClass | None = None
    risk: Risk | None = None
    affected_systems: tuple[str, ...] = ()
    affected_services: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    rollback_plan: str = ""
    implementation_plan: str = ""
    test_plan: str = ""
    justification: str = ""
    security: SecurityImpact = SecurityImpact()
    operational_impact: str = ""
    expected_downtime_minutes: Annotated[float, Field(ge=0)] | None = None
    customer_facing: bool = False
    audiences: tuple[Audience, ...] = ()
    planned_start: AwareDatetime | None = None
    planned_end: AwareDatetime | None = None
    actual_start: AwareDatetime | None = None
    actual_end: AwareDatetime | None = None
    requester: Person | None = None
    assignee: Person | None = None
    implementer: Person | None = None
    emergency_approver: Person | None = None
    standard_template: str = ""
    approvals: tuple[Approval, ...] = ()
    cab_decision: CabDecision | None = None
    status: Status = Status.DRAFT
    native_status: str = ""
    outcome: Outcome | None = None
    release: str = ""
    labels: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    created: AwareDatetime
    updated: AwareDatetime

    @field_validator("planned_end")
    @classmethod
    def _end_after_start(cls, end: datetime | None, info: Any) -> datetime | None:
        start = info.data.get("planned_start")
        if end is not None and start is not None and end < start:
            raise ValueError("planned window ends before it starts")
        return end

    @property
    def effective_class(self) -> str:
        """The owner's process speaks of minor, major and emergency changes."""
        if self.change_type is ChangeType.EMERGENCY:
            return "emergency"
        if self.change_type is ChangeType.STANDARD:
            return "standard"
        return (self.change_class or ChangeClass.MINOR).value

    def fingerprint(self) -> str:
        """SHA-256 over every field except `updated`; stable across processes and versions."""
        data = self.model_dump(mode="json", exclude=FINGERPRINT_EXCLUDED)
        return hashlib.sha256(canonical_json(data)).hexdigest()

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Change:
        return cls.model_validate_json(text)


# `updated` moves on every write, the connector's own included; `labels` carries the connector's
# own marker label. Neither is something policy decides on.
FINGERPRINT_EXCLUDED = {"updated", "labels"}


def canonical_json(data: dict[str, Any]) -> bytes:
    """`json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` in UTF-8,
    the text fingerprints have always hashed, written by orjson (several times faster). The two
    agree on everything a dumped model holds except floats Python writes with an exponent below
    1e-4 (9.5e-05) and NaN / infinity: those, and text orjson refuses, take the json module."""
    if all(type(v := data.get(name)) is not float or plain_float(v) for name in FLOAT_FIELDS):
        try:
            return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # e.g. a lone surrogate: json raises its own error for it below, as it always did
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


# The Change attributes that hold a float (no nested model holds one; a unit test checks).
FLOAT_FIELDS = tuple(
    name for name, info in Change.model_fields.items() if "float" in repr(info.annotation)
)

"""The `[policy]` config: validation errors, disabled rules, severity overrides, the digest."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from connector.core.model import (
    Audience,
    Change,
    ChangeType,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.policy import Context, PolicySettings, Severity, evaluate
from connector.core.policy.config import (
    ApprovalPolicy,
    Freeze,
    MaintenanceWindow,
    RequiredFields,
    Requirement,
)
from connector.core.policy.findings import RULE_IDS
from connector.core.policy.rules import RULES

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "requester": Person(id="u-alice"),
        "status": Status.AWAITING_APPROVAL,
        "created": NOW - DAY,
        "updated": NOW,
    }
    return Change.model_validate(base | fields)


def rules_of(c: Change, policy: PolicySettings, now: datetime = NOW) -> list[tuple[str, str]]:
    return [
        (f.rule, f.severity.value) for f in evaluate(c, Context(now=now, policy=policy)).findings
    ]


def overdue_emergency() -> Change:
    return change(
        change_type=ChangeType.EMERGENCY,
        affected_systems=("db",),
        rollback_plan="Restore.",
        security=SecurityImpact(level=SecurityLevel.NONE),
        justification="Outage.",
        emergency_approver=Person(id="u-frank"),
        status=Status.REVIEW,
        actual_start=NOW - 20 * DAY,
        actual_end=NOW - 19 * DAY,
    )


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"disabled_rules": ["required-field"]},
        {"severity": {"no-such-rule": "warn"}},
    ],
)
def test_unknown_rule_ids_are_errors(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="unknown rule id"):
        PolicySettings.model_validate(data)


def test_every_rule_id_may_be_named() -> None:
    policy = PolicySettings(disabled_rules=RULE_IDS, severity=dict.fromkeys(RULE_IDS, "warn"))
    assert set(RULES) <= set(policy.disabled_rules)
    assert {"emergency-review-due", "emergency-review-overdue"} <= set(RULE_IDS)
    assert RULE_IDS[: len(RULES)] == tuple(RULES)  # the ids the config knows are the rules'


def test_a_bad_severity_is_an_error() -> None:
    with pytest.raises(ValidationError):
        PolicySettings.model_validate({"severity": {"freeze": "fatal"}})


@pytest.mark.parametrize(
    "data",
    [
        {"time_zone": "Europe/Berlinn"},
        {"time_zone": "CET+1"},
        {"time_zone": "../etc/passwd"},
        {
            "freezes": [
                {
                    "name": "F",
                    "start": "2026-12-18T00:00",
                    "end": "2027-01-04T00:00",
                    "time_zone": "Mars/Olympus",
                }
            ]
        },
        {
            "maintenance_windows": [
                {"systems": ["db"], "start": "22:00", "end": "04:00", "time_zone": "Nowhere"}
            ]
        },
    ],
)
def test_a_bad_time_zone_is_an_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        PolicySettings.model_validate(data)


def test_the_policy_time_zone_may_not_be_empty() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        PolicySettings(time_zone="")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2027, 1, 4), datetime(2026, 12, 18)),
        (datetime(2026, 12, 18), datetime(2026, 12, 18)),
        # 03:00+05:00 is 22:00 UTC the day before: ends before it starts, whatever the clock says.
        (
            datetime(2026, 12, 18, tzinfo=UTC),
            datetime(2026, 12, 18, 3, tzinfo=timezone(timedelta(hours=5))),
        ),
    ],
)
def test_a_freeze_that_ends_before_it_starts_is_an_error(start: datetime, end: datetime) -> None:
    with pytest.raises(ValidationError, match="'Bad' ends before it starts"):
        Freeze(name="Bad", start=start, end=end)


def test_freezes_and_windows_need_their_essentials() -> None:
    with pytest.raises(ValidationError):
        Freeze(name="", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))
    with pytest.raises(ValidationError):
        Freeze.model_validate(
            {
                "name": "F",
                "start": "2026-01-01T00:00",
                "end": "2026-01-02T00:00",
                "recurrence": "daily",
            }
        )
    with pytest.raises(ValidationError):
        MaintenanceWindow(systems=(), start=time(1), end=time(2))
    with pytest.raises(ValidationError):
        MaintenanceWindow.model_validate(
            {"systems": ["db"], "days": ["monday"], "start": "01:00", "end": "02:00"}
        )


def test_unknown_keys_and_bad_values_are_errors() -> None:
    with pytest.raises(ValidationError, match="freezez"):
        PolicySettings.model_validate({"freezez": []})
    with pytest.raises(ValidationError):
        PolicySettings.model_validate({"required": {"major": ["rollback"]}})
    with pytest.raises(ValidationError):
        PolicySettings.model_validate({"notice_days": {"all-users": -1}})
    with pytest.raises(ValidationError):
        PolicySettings.model_validate({"notice_days": {"everyone": 3}})
    with pytest.raises(ValidationError):
        ApprovalPolicy(emergency_review_days=0)


def test_a_policy_as_read_from_toml() -> None:
    policy = PolicySettings.model_validate(
        {
            "time_zone": "Europe/Berlin",
            "required": {"major": ["implementation_plan", "test_plan"]},
            "freezes": [
                {"name": "Year-end", "start": "2026-12-18T00:00:00", "end": "2027-01-04T00:00:00"},
                {
                    "name": "Weekends",
                    "start": "2026-01-02T18:00:00",
                    "end": "2026-01-05T06:00:00",
                    "recurrence": "weekly",
                    "systems": ["db"],
                },
            ],
            "maintenance_windows": [
                {"systems": ["db"], "days": ["sat", "sun"], "start": "22:00", "end": "04:00"}
            ],
            "notice_days": {"all-users": 7},
            "disabled_rules": ["maintenance-window"],
            "severity": {"schedule-conflict": "block"},
        }
    )
    assert policy.required.major == (Requirement.IMPLEMENTATION_PLAN, Requirement.TEST_PLAN)
    assert policy.freezes[1].recurrence == "weekly" and policy.freezes[1].start.tzinfo is None
    assert policy.maintenance_windows[0].end == time(4)
    assert policy.notice_days == {Audience.ALL_USERS: 7}
    assert str(policy.zone()) == "Europe/Berlin" and str(policy.zone("UTC")) == "UTC"


def test_required_fields_per_class_start_with_the_baseline_once() -> None:
    required = RequiredFields(major=(Requirement.ROLLBACK_PLAN, Requirement.TEST_PLAN))
    assert required.for_class("major") == (
        Requirement.AFFECTED_SYSTEMS,
        Requirement.ROLLBACK_PLAN,
        Requirement.SECURITY,
        Requirement.TEST_PLAN,
    )
    assert required.for_class("minor") == required.all
    assert RequiredFields().for_class("emergency")[-2:] == (
        Requirement.JUSTIFICATION,
        Requirement.EMERGENCY_APPROVER,
    )


# -- disabled rules and severities -------------------------------------------------------------


def test_disabled_rules_produce_no_findings() -> None:
    bare = change(change_type=ChangeType.STANDARD)
    assert rules_of(bare, PolicySettings()) == [("required-fields", "block")] * 3 + [
        ("standard-template", "warn")
    ]
    quiet = PolicySettings(disabled_rules=("required-fields", "standard-template"))
    assert rules_of(bare, quiet) == []
    assert not evaluate(bare, Context(now=NOW, policy=quiet)).blocked


def test_a_severity_override_changes_the_severity() -> None:
    bare = change(change_type=ChangeType.STANDARD)
    policy = PolicySettings(severity={"required-fields": "warn", "standard-template": "block"})
    assert rules_of(bare, policy) == [("required-fields", "warn")] * 3 + [
        ("standard-template", "block")
    ]
    ev = evaluate(
        change(), Context(now=NOW, policy=PolicySettings(severity={"required-fields": "warn"}))
    )
    assert ev.findings and not ev.blocked
    assert all(f.severity is Severity.WARN for f in ev.findings)


def test_the_ids_a_rule_emits_can_be_disabled_and_overridden_one_by_one() -> None:
    c = overdue_emergency()
    assert ("emergency-review-overdue", "block") in rules_of(c, PolicySettings())
    no_overdue = PolicySettings(disabled_rules=("emergency-review-overdue",))
    assert [r for r, _ in rules_of(c, no_overdue) if r.startswith("emergency-review")] == []
    # While it is only due, that finding still appears.
    due = rules_of(c, no_overdue, now=NOW - 18 * DAY)
    assert ("emergency-review-due", "warn") in due
    softer = PolicySettings(severity={"emergency-review-overdue": "warn"})
    assert ("emergency-review-overdue", "warn") in rules_of(c, softer)


def test_the_rule_id_covers_every_id_it_emits() -> None:
    c = overdue_emergency()
    assert not [
        r
        for r, _ in rules_of(c, PolicySettings(disabled_rules=("emergency-review",)))
        if r.startswith("emergency-review")
    ]
    softer = PolicySettings(severity={"emergency-review": "warn"})
    assert ("emergency-review-overdue", "warn") in rules_of(c, softer)
    # The more specific id wins over the rule's id.
    both = PolicySettings(
        severity={"emergency-review": "warn", "emergency-review-overdue": "block"}
    )
    assert ("emergency-review-overdue", "block") in rules_of(c, both)


# -- digest ------------------------------------------------------------------------------------


def test_the_digest_identifies_the_policy() -> None:
    base = PolicySettings()
    assert base.digest() == PolicySettings().digest() and len(base.digest()) == 64
    same = PolicySettings.model_validate({"time_zone": "UTC"})
    assert same.digest() == base.digest()
    variants = [
        PolicySettings(time_zone="Europe/Berlin"),
        PolicySettings(disabled_rules=("freeze",)),
        PolicySettings(severity={"freeze": "warn"}),
        PolicySettings(notice_days={Audience.ADMINS: 3}),
        PolicySettings(required=RequiredFields(minor=(Requirement.TEST_PLAN,))),
        PolicySettings(approvals=ApprovalPolicy(cab_groups=("Board",))),
        PolicySettings(
            freezes=(Freeze(name="F", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2)),)
        ),
        PolicySettings(findings_label="cc"),
    ]
    digests = {p.digest() for p in variants}
    assert len(digests) == len(variants) and base.digest() not in digests

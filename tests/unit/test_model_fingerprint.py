"""Change.fingerprint(): the same digest as ever (stored fingerprints keep matching), and a
different one whenever a field the policy reads changes; the approval basis digests likewise."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import reference_paths
from pydantic import BaseModel
from site_fields import jira_default_mapping
from test_mapping_fast_paths import CLOUD, JIRA_BASE, SITE_FIELDS, jira_raws

from connector.core.mapping import normalize
from connector.core.model import (
    FINGERPRINT_EXCLUDED,
    FLOAT_FIELDS,
    Approval,
    Audience,
    CabDecision,
    Change,
    ChangeClass,
    ChangeType,
    Decision,
    Link,
    Outcome,
    Person,
    Risk,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.core.policy.facts import covered_fields

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def base() -> Change:
    return Change(
        source=Source(instance="jira", kind=SystemKind.JIRA_CLOUD),
        key="CHG-1",
        native_id="10001",
        title="Rotate certificates",
        created=T0,
        updated=T0,
    )


def test_same_digest_as_the_json_module_on_scenario_changes() -> None:
    mapping = jira_default_mapping(SITE_FIELDS)
    for version in ("2", "3"):
        for raw in jira_raws(200, 3, version=version, cloud=True):
            change = normalize(raw, mapping=mapping, source=CLOUD, base_url=JIRA_BASE)
            assert change.fingerprint() == reference_paths.fingerprint(change)
            again = Change.from_json(change.to_json())
            assert again.fingerprint() == change.fingerprint()


@pytest.mark.parametrize(
    "minutes",
    [0.0, -0.0, 1e-4, 9.5e-5, 5e-324, 0.5, 1 / 3, 30.0, 9999999999999998.0, 1e16, 1.5e300],
)
def test_same_digest_for_every_kind_of_float(minutes: float) -> None:
    change = base().model_copy(update={"expected_downtime_minutes": minutes})
    assert change.fingerprint() == reference_paths.fingerprint(change)


@pytest.mark.parametrize("minutes", [float("inf"), float("nan")])
def test_same_digest_for_non_finite_floats(minutes: float) -> None:
    change = base().model_copy(update={"expected_downtime_minutes": minutes})
    assert change.fingerprint() == reference_paths.fingerprint(change)


def test_same_digest_for_every_character() -> None:
    text = "".join(chr(c) for c in range(1, 0x800)) + "\u2028\u2029\ufeff🚀\ue000"
    change = base().model_copy(update={"title": text, "description": "\\\"'/<>&"})
    assert change.fingerprint() == reference_paths.fingerprint(change)


def test_a_lone_surrogate_fails_as_it_always_did() -> None:
    change = base().model_copy(update={"title": "\ud83d"})
    with pytest.raises(UnicodeEncodeError):
        reference_paths.fingerprint(change)
    with pytest.raises(UnicodeEncodeError):
        change.fingerprint()


def test_no_nested_model_holds_a_float() -> None:
    """canonical_json checks the top-level float fields only: nested values hold no floats."""

    def floats(model: type[BaseModel]) -> list[str]:
        out = []
        for name, info in model.model_fields.items():
            text = repr(info.annotation)
            if "float" in text:
                out.append(f"{model.__name__}.{name}")
            for arg in typing.get_args(info.annotation) or (info.annotation,):
                inner = typing.get_args(arg) or (arg,)
                for tp in inner:
                    if isinstance(tp, type) and issubclass(tp, BaseModel):
                        out += floats(tp)
        return out

    assert floats(Change) == [f"Change.{name}" for name in FLOAT_FIELDS]
    assert FLOAT_FIELDS == ("expected_downtime_minutes",)


PERSON = Person(id="u-2", name="Bea")
CHANGED: dict[str, Any] = {
    "source": Source(instance="other", kind=SystemKind.JIRA_CLOUD),
    "key": "CHG-2",
    "native_id": "10002",
    "url": "https://x/browse/CHG-1",
    "title": "Rotate keys",
    "description": "why",
    "change_type": ChangeType.NORMAL,
    "change_class": ChangeClass.MAJOR,
    "risk": Risk.HIGH,
    "affected_systems": ("billing",),
    "affected_services": ("api",),
    "departments": ("IT",),
    "rollback_plan": "revert",
    "implementation_plan": "deploy",
    "test_plan": "smoke",
    "justification": "needed",
    "security": SecurityImpact(level=SecurityLevel.LOW),
    "operational_impact": "none",
    "expected_downtime_minutes": 5.0,
    "customer_facing": True,
    "audiences": (Audience.ADMINS,),
    "planned_start": T0,
    "planned_end": T0 + timedelta(hours=1),
    "actual_start": T0,
    "actual_end": T0,
    "requester": PERSON,
    "assignee": PERSON,
    "implementer": PERSON,
    "emergency_approver": PERSON,
    "standard_template": "SOP-1",
    "approvals": (Approval(approver=PERSON, decision=Decision.APPROVED, decided_at=T0),),
    "cab_decision": CabDecision.APPROVE,
    "status": Status.APPROVED,
    "native_status": "Approved",
    "outcome": Outcome.SUCCESSFUL,
    "release": "2026.1",
    "links": (Link(relation="blocks", target="CHG-3"),),
    "created": T0 - timedelta(days=1),
}


def test_every_field_but_updated_and_labels_is_in_the_fingerprint() -> None:
    assert set(CHANGED) | FINGERPRINT_EXCLUDED == set(Change.model_fields)
    before = base()
    for name, value in CHANGED.items():
        after = before.model_copy(update={name: value})
        assert after.fingerprint() != before.fingerprint(), name
    for name, value in {"updated": T0 + timedelta(days=1), "labels": ("change-control",)}.items():
        assert before.model_copy(update={name: value}).fingerprint() == before.fingerprint()


def test_covered_field_digests_are_the_json_modules() -> None:
    """Approval bases recorded earlier must keep matching."""
    mapping = jira_default_mapping(SITE_FIELDS)
    changes = [
        normalize(raw, mapping=mapping, source=CLOUD, base_url=JIRA_BASE)
        for raw in jira_raws(200, 4, version="2", cloud=True)
    ]
    odd = base().model_copy(
        update={
            "rollback_plan": 'Zurück "quoted" \\ \n\t\u2028 🚀 \x00',
            "affected_systems": ("ünïcode", 'a"b', ""),
            "justification": "",
            "security": SecurityImpact(level=SecurityLevel.HIGH, notes="é"),
            "planned_start": T0,
        }
    )
    berlin = timezone(timedelta(hours=1))
    times = base().model_copy(
        update={
            "planned_start": datetime(2026, 3, 1, 9, 30, 15, 250, tzinfo=berlin),
            "planned_end": datetime(2026, 3, 1, 11, 0, tzinfo=berlin),
        }
    )
    for change in [*changes, base(), odd, times]:
        assert covered_fields(change) == reference_paths.covered_fields(change)

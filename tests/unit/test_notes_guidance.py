"""InfoSec guidance and audience routing: the built-in rule and configured routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from connector.core.model import (
    Audience,
    Change,
    InfoSecCategory,
    SecurityImpact,
    SecurityLevel,
    Source,
    SystemKind,
)
from connector.core.notes.guidance import GUIDANCE, Route, default_audiences, route

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
A = Audience
C = InfoSecCategory


def make_change(
    *categories: InfoSecCategory, level: SecurityLevel | None = None, **changes: Any
) -> Change:
    return Change(
        source=Source(instance="jira-prod", kind=SystemKind.JIRA_CLOUD),
        key="CHG-1",
        native_id="1",
        security=SecurityImpact(level=level, categories=categories),
        created=T0,
        updated=T0,
        **changes,
    )


def test_every_category_has_guidance() -> None:
    assert set(GUIDANCE) == set(InfoSecCategory)
    for meaning, action in GUIDANCE.values():
        assert meaning.startswith("This change") and meaning.endswith(".")
        assert action.endswith(".") and len(action) < 200


def test_engineering_always() -> None:
    assert default_audiences(make_change()) == (A.ENGINEERING,)
    assert default_audiences(make_change(level=SecurityLevel.LOW)) == (A.ENGINEERING,)


def test_own_audiences_kept_in_enum_order() -> None:
    change = make_change(audiences=(A.ACCOUNT_OWNERS, A.ALL_USERS, A.ALL_USERS))
    assert default_audiences(change) == (A.ALL_USERS, A.ACCOUNT_OWNERS, A.ENGINEERING)


@pytest.mark.parametrize(
    ("categories", "level", "expected"),
    [
        ((C.DATA_SHARING,), None, (A.SECURITY, A.ENGINEERING)),
        ((C.SECURITY_CONFIGURATION,), None, (A.ADMINS, A.SECURITY, A.ENGINEERING)),
        ((C.USER_ACCESS,), SecurityLevel.LOW, (A.ADMINS, A.SECURITY, A.ENGINEERING)),
        ((C.SYSTEM_USAGE,), None, (A.ACCOUNT_OWNERS, A.SECURITY, A.ENGINEERING)),
        ((), SecurityLevel.MEDIUM, (A.SECURITY, A.ENGINEERING)),
        ((), SecurityLevel.HIGH, (A.SECURITY, A.ENGINEERING)),
        ((), SecurityLevel.NONE, (A.ENGINEERING,)),
        (
            tuple(InfoSecCategory),
            SecurityLevel.HIGH,
            (A.ADMINS, A.ACCOUNT_OWNERS, A.SECURITY, A.ENGINEERING),
        ),
    ],
)
def test_default_routing(
    categories: tuple[InfoSecCategory, ...],
    level: SecurityLevel | None,
    expected: tuple[Audience, ...],
) -> None:
    assert default_audiences(make_change(*categories, level=level)) == expected


def test_route_adds_audiences_when_every_condition_matches() -> None:
    data_high = Route(
        categories=(C.DATA_SHARING,), levels=(SecurityLevel.HIGH,), audiences=(A.ACCOUNT_OWNERS,)
    )
    public = Route(customer_facing=True, audiences=(A.ALL_USERS, A.ADMINS))
    routes = (data_high, public)
    both = make_change(C.DATA_SHARING, level=SecurityLevel.HIGH, customer_facing=True)
    assert route(both, routes) == (
        A.ALL_USERS,
        A.ADMINS,
        A.ACCOUNT_OWNERS,
        A.SECURITY,
        A.ENGINEERING,
    )
    medium = make_change(C.DATA_SHARING, level=SecurityLevel.MEDIUM)
    assert route(medium, routes) == (A.SECURITY, A.ENGINEERING)
    other_category = make_change(C.SYSTEM_USAGE, level=SecurityLevel.HIGH)
    assert A.ALL_USERS not in route(other_category, routes)
    unassessed = make_change(C.DATA_SHARING)
    assert not data_high.matches(unassessed)


def test_category_condition_matches_any_of_them() -> None:
    r = Route(categories=(C.USER_ACCESS, C.SYSTEM_USAGE), audiences=(A.ALL_USERS,))
    assert r.matches(make_change(C.DATA_SHARING, C.SYSTEM_USAGE))
    assert not r.matches(make_change(C.DATA_SHARING))
    assert not r.matches(make_change())


def test_customer_facing_false_condition() -> None:
    r = Route(customer_facing=False, audiences=(A.SECURITY,))
    assert route(make_change(customer_facing=False), [r]) == (A.SECURITY, A.ENGINEERING)
    assert route(make_change(customer_facing=True), [r]) == (A.ENGINEERING,)


def test_route_without_conditions_matches_every_change() -> None:
    assert route(make_change(), [Route(audiences=(A.ALL_USERS,))]) == (A.ALL_USERS, A.ENGINEERING)


def test_no_routes_is_the_default() -> None:
    change = make_change(C.USER_ACCESS, audiences=(A.ALL_USERS,))
    assert route(change, ()) == default_audiences(change)


def test_route_is_config() -> None:
    """Routes come from TOML: values by name, unknown keys and empty audiences rejected."""
    r = Route.model_validate(
        {"categories": ["data-sharing"], "levels": ["high"], "audiences": ["account-owners"]}
    )
    assert r.categories == (C.DATA_SHARING,) and r.audiences == (A.ACCOUNT_OWNERS,)
    with pytest.raises(pydantic.ValidationError):
        Route.model_validate({"audiences": ["admins"], "category": ["data-sharing"]})
    with pytest.raises(pydantic.ValidationError):
        Route.model_validate({"audiences": []})
    with pytest.raises(pydantic.ValidationError):
        Route.model_validate({"audiences": ["customers"]})
    with pytest.raises(pydantic.ValidationError):
        r.model_copy().__setattr__("audiences", ())

"""What a security-relevant change means for users, and who hears about a change.

`GUIDANCE` holds, per InfoSec category, what the change means for users' security practices and
what they should do; release notes quote it next to each change that carries the category.

Routing: `default_audiences` is the built-in rule (the change's own audiences, security for
anything security-relevant, admins and account owners by category, engineering always);
`route` adds the configured `Route`s. Audiences always come back in `Audience` order, once each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated

from pydantic import Field

from connector.core.model import Audience, Change, Frozen, InfoSecCategory, SecurityLevel

# category -> (what it means for users' security practices, what they should do)
GUIDANCE: dict[InfoSecCategory, tuple[str, str]] = {
    InfoSecCategory.DATA_SHARING: (
        "This change creates or changes a path by which data leaves the product or reaches a "
        "third party.",
        "Review which data is shared and with whom; update your data-processing records.",
    ),
    InfoSecCategory.SECURITY_CONFIGURATION: (
        "This change alters security settings or their defaults, such as authentication, "
        "encryption or session rules.",
        "Check that the new settings and defaults still meet your security policy, and adjust "
        "your configuration where they do not.",
    ),
    InfoSecCategory.USER_ACCESS: (
        "This change adds or changes access rights and roles, or features that let users grant "
        "others access.",
        "Review who has access and with which roles; remove access that is no longer needed.",
    ),
    InfoSecCategory.SYSTEM_USAGE: (
        "This change affects how the system may be used, including its terms of use.",
        "Read the updated terms and usage rules, and tell your users what changes for them.",
    ),
}

# For a change with a medium or high security level but no InfoSec category.
GENERAL_GUIDANCE = (
    "This change affects the security of the product.",
    "Read what changes and check whether your security practices need to follow.",
)

CATEGORY_LABELS: dict[InfoSecCategory, str] = {
    InfoSecCategory.DATA_SHARING: "Data sharing",
    InfoSecCategory.SECURITY_CONFIGURATION: "Security configuration",
    InfoSecCategory.USER_ACCESS: "User access",
    InfoSecCategory.SYSTEM_USAGE: "System usage",
}

AUDIENCE_LABELS: dict[Audience, str] = {
    Audience.ALL_USERS: "all users",
    Audience.ADMINS: "administrators",
    Audience.ACCOUNT_OWNERS: "account owners",
    Audience.SECURITY: "the security team",
    Audience.ENGINEERING: "engineering (internal)",
}

SIGNIFICANT_LEVELS = (SecurityLevel.MEDIUM, SecurityLevel.HIGH)


def security_relevant(change: Change) -> bool:
    """Any InfoSec category, or a medium or high security level."""
    return bool(change.security.categories) or change.security.level in SIGNIFICANT_LEVELS


class Route(Frozen):
    """A configured routing rule: when every non-empty condition matches, the change also goes
    to `audiences`. `categories` matches when the change has any of them, `levels` when its
    security level is one of them (an unassessed change matches no level). A route without
    conditions matches every change."""

    categories: tuple[InfoSecCategory, ...] = ()
    levels: tuple[SecurityLevel, ...] = ()
    customer_facing: bool | None = None
    audiences: Annotated[tuple[Audience, ...], Field(min_length=1)]

    def matches(self, change: Change) -> bool:
        security = change.security
        if self.categories and not set(self.categories) & set(security.categories):
            return False
        if self.levels and security.level not in self.levels:
            return False
        return self.customer_facing is None or self.customer_facing == change.customer_facing


def _ordered(audiences: Iterable[Audience]) -> tuple[Audience, ...]:
    wanted = set(audiences)
    return tuple(a for a in Audience if a in wanted)


def default_audiences(change: Change) -> tuple[Audience, ...]:
    """The built-in routing: the change's own audiences; security for a security-relevant
    change; admins for security configuration and user access; account owners for system usage
    (terms); engineering always."""
    out = set(change.audiences) | {Audience.ENGINEERING}
    categories = set(change.security.categories)
    if security_relevant(change):
        out.add(Audience.SECURITY)
    if categories & {InfoSecCategory.SECURITY_CONFIGURATION, InfoSecCategory.USER_ACCESS}:
        out.add(Audience.ADMINS)
    if InfoSecCategory.SYSTEM_USAGE in categories:
        out.add(Audience.ACCOUNT_OWNERS)
    return _ordered(out)


def route(change: Change, routes: Sequence[Route]) -> tuple[Audience, ...]:
    """The default audiences plus those of every matching route, in `Audience` order."""
    extra = (a for r in routes if r.matches(change) for a in r.audiences)
    return _ordered((*default_audiences(change), *extra))

"""A finding: what one rule says about one change, with a message that says what to do; and
the rule ids a policy file may name (the config checks them without importing the rules)."""

from __future__ import annotations

from enum import StrEnum

from connector.core.model import Frozen


class Severity(StrEnum):
    BLOCK = "block"  # the change does not move on until it is resolved
    WARN = "warn"  # reported on the ticket and in reports; the change moves on


class Finding(Frozen):
    rule: str  # stable id, e.g. "required-fields"
    severity: Severity
    message: str  # for the requester: exactly what to add or change
    subject: str = ""  # what it is about: a field, another change's key, a freeze name

    def with_severity(self, severity: str) -> Finding:
        return self.model_copy(update={"severity": Severity(severity)})


# Ids a config may name: each rule of `rules.RULES` (in its order; a unit test holds the two
# together), then the ids a rule emits besides its own (emergency-review-due / -overdue).
RULE_IDS = (
    "required-fields",
    "infosec-categories",
    "standard-template",
    "separation-of-duties",
    "approval-drift",
    "freeze",
    "schedule-conflict",
    "maintenance-window",
    "notice-lead-time",
    "unauthorized",
    "emergency-review",
    "emergency-review-due",
    "emergency-review-overdue",
)

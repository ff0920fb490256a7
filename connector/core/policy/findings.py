"""A finding: what one rule says about one change, with a message that says what to do."""

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

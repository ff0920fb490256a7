"""What a report says about itself, so an auditor can judge whether it is complete and what it
was measured against: the population (in scope, stored, skipped with reasons, deleted, out of
scope by rule), the policy in force and its digest, the sources and their last successful
sync, the audit chain's head and whether it verified, and the tool that made it.

Pure values: `build.py` reads them from the store and the settings; renderers only print them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.core.policy.config import zone_info


@dataclass(frozen=True)
class Population:
    in_scope: int  # the report's rows
    stored: int  # every stored change of the reported sources, deleted ones included
    deleted: int  # recorded as deleted in the ticket system (never rows of a report)
    skipped: dict[str, int]  # tickets that could not be read as changes: reason -> tickets
    out_of_scope: dict[str, int]  # stored, not deleted, not reported: rule -> changes


@dataclass(frozen=True)
class SourceState:
    name: str
    kind: str
    url: str
    scope: str  # the mapping's scope with the policy's rule applied, as one line
    last_sync: datetime | None  # end of the last poll or sync that finished without error


@dataclass(frozen=True)
class PolicyInForce:
    digest: str
    time_zone: str
    required: dict[str, list[str]]  # class -> what it must state
    approvals: dict[str, Any]  # cab / security groups, templates, emergency review days
    freezes: list[dict[str, str]]  # name, start, end (ISO 8601 with offset)
    disabled_rules: list[str]


@dataclass(frozen=True)
class AuditState:
    links: int
    head_hash: str
    intact: bool  # every link verified and every anchor agrees
    broken_at: int | None = None  # the first link that did not verify
    keyed: int = 0  # links keyed with the audit HMAC key
    anchors: int = 0  # anchors (audit.anchor_file) the chain was compared with
    problems: list[str] = field(default_factory=list)  # what the verify found, in words


@dataclass(frozen=True)
class ReportContext:
    population: Population
    policy: PolicyInForce
    sources: list[SourceState]
    audit: AuditState
    tool_version: str
    filters: dict[str, list[str]] = field(default_factory=dict)  # --source / --type given


def skip_reason(line: str) -> tuple[str, str]:
    """(ticket, reason) of a skip recorded as "KEY: where: problem"; the reason without the key
    groups the same problem across tickets."""
    key, sep, reason = line.partition(": ")
    return (key, reason) if sep else ("", line)


def count_skips(lines: list[str]) -> dict[str, int]:
    """Distinct tickets per reason: a ticket skipped on every poll counts once."""
    seen: dict[str, set[str]] = {}
    for line in lines:
        key, reason = skip_reason(line)
        seen.setdefault(reason, set()).add(key or line)
    return {reason: len(keys) for reason, keys in sorted(seen.items())}


def stamp(at: datetime | None, zone: str) -> str:
    """A time for people: to the minute in the report's zone, with the zone's abbreviation and
    offset ("2026-01-02 10:00 CET (+01:00)"); "" for none."""
    if at is None:
        return ""
    local = at.astimezone(zone_info(zone))
    offset = local.isoformat()[-6:] if local.utcoffset() else "+00:00"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({offset})"

"""Read the report's context (`context.py`) from the store and the settings: population counts,
the policy in force, the sources with their scope and last successful sync, and the audit
chain's head and verify result. The shell around the pure context values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from connector import __version__
from connector.core.errors import ConnectorError
from connector.core.mapping import load_mapping
from connector.core.policy import PolicySettings
from connector.reports.context import (
    AuditState,
    PolicyInForce,
    Population,
    ReportContext,
    SourceState,
    count_skips,
)
from connector.settings import Settings, SourceSettings
from connector.store import Store


def gather(
    settings: Settings,
    store: Store,
    *,
    since: datetime,
    until: datetime,
    names: Sequence[str],
    in_scope: int,
    deleted: int,
    out_of_scope: dict[str, int],
    filters: dict[str, list[str]],
    audit: AuditState | None = None,
) -> ReportContext:
    """`names`: the reported sources; `in_scope`: the report's rows; `deleted`: the changes
    updated in the period but recorded as deleted; `out_of_scope`: what the builder read and
    left out by rule, counted by it (created after the period, other types, and the rest of
    the stored changes: not updated in the period). `audit`: the chain's state if already
    verified (else it is verified here)."""
    stored = sum(store.count_changes(name) for name in names)
    skipped: list[str] = []
    for name in names:
        skipped += store.skipped_reasons(name, since=since, until=until)
    read = in_scope + deleted + sum(out_of_scope.values())
    rules = {"not updated in the period": stored - read, **out_of_scope}
    other = [n for n in settings.sources if n not in names]
    if other:
        rules["other sources (--source)"] = sum(store.count_changes(n) for n in other)
    population = Population(
        in_scope=in_scope,
        stored=stored,
        deleted=deleted,
        skipped=count_skips(skipped),
        out_of_scope={k: v for k, v in rules.items() if v},
    )
    return ReportContext(
        population=population,
        policy=policy_in_force(settings.policy),
        sources=[_source(store, n, settings.sources[n], settings.policy) for n in names],
        audit=audit if audit is not None else audit_state(store, settings.audit.anchor_file),
        tool_version=f"change-connector {__version__}",
        filters=filters,
    )


def policy_in_force(policy: PolicySettings) -> PolicyInForce:
    required = policy.required
    classes = ("standard", "minor", "major", "emergency")
    return PolicyInForce(
        digest=policy.digest(),
        time_zone=policy.time_zone,
        required={c: [r.value for r in required.for_class(c)] for c in classes},
        approvals={
            "cab_groups": list(policy.approvals.cab_groups),
            "security_groups": list(policy.approvals.security_groups),
            "standard_templates": list(policy.approvals.standard_templates),
            "emergency_review_days": policy.approvals.emergency_review_days,
        },
        freezes=[
            {
                "name": f.name,
                "start": _local(f.start, policy, f.time_zone),
                "end": _local(f.end, policy, f.time_zone),
                "recurrence": f.recurrence,
                "systems": ", ".join(f.systems) or "every system",
            }
            for f in policy.freezes
        ],
        disabled_rules=list(policy.disabled_rules),
    )


def _local(at: datetime, policy: PolicySettings, zone: str) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=policy.zone(zone))
    return at.isoformat()


def audit_state(store: Store, anchor_file: Path | None = None) -> AuditState:
    """The chain walked with the store's audit key and compared with the anchors of
    `anchor_file` (audit.anchor_file)."""
    from connector.store.anchors import stored_anchors

    verdict = store.audit_verdict(stored_anchors(anchor_file))
    head = store.audit_head()
    problems = verdict.problems()
    return AuditState(
        links=head.seq if head else 0,
        head_hash=head.hash if head else "",
        intact=not problems,
        broken_at=verdict.broken,
        keyed=verdict.keyed,
        anchors=verdict.anchors,
        problems=problems,
    )


def _source(store: Store, name: str, source: SourceSettings, policy: PolicySettings) -> SourceState:
    return SourceState(
        name=name,
        kind=source.kind,
        url=source.url,
        scope=_scope(name, source, policy),
        last_sync=store.last_success(name),
    )


def _scope(name: str, source: SourceSettings, policy: PolicySettings) -> str:
    """The scope the worker reads with, as one line (the mapping's, with the policy's rule)."""
    from connector.sync.reader import scope_jql
    from connector.sync.runtime import scoped

    try:
        mapping = load_mapping(source.mapping)
    except ConnectorError as exc:
        return f"(mapping not readable: {exc.message})"
    if name in policy.scope:
        mapping = scoped(mapping, policy.scope[name], where=f"policy.scope.{name}")
    if mapping.system == "jira":
        return f"JQL: {scope_jql(mapping, order=False)}"
    query = f" where {mapping.scope.query}" if mapping.scope.query else ""
    return f"table {mapping.scope.table}{query}"

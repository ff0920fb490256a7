"""Build the compliance report from the store (never from the ticket systems).

For every configured source, the stored changes active in the period (created before its end,
updated after its start) give one row each. The worker stores the report's answers with every
evaluation (`answers.py`); a report reads those in one streamed query and adds what the ledger
says reached the tickets. A change whose stored answers no longer hold (another policy, a
recheck fallen due, stored before answers were) is evaluated again with the configured policy
over what the store holds (board decisions, approval bases, the window index), as `policy
backtest` does, and read through the same answers. The result is the view model of `model.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from operator import attrgetter

from connector.core.communications import INTERNAL, PUBLIC
from connector.core.model import Change
from connector.reports.answers import (
    Answers,
    answers,
    approved_view,
    basis,
    finish,
    loads,
    rows_from,
)
from connector.reports.apart import verify_beside
from connector.reports.bulk import collector_paused
from connector.reports.deployments import UNAUTHORIZED, DeploymentLine, unauthorized_refs
from connector.reports.gather import gather
from connector.reports.metrics import delivery_metrics
from connector.reports.model import ReportRow
from connector.reports.summary import Summary, summarize
from connector.settings import Settings, SourceSettings
from connector.store import Store
from connector.sync.page import utcnow
from connector.sync.reader import batched
from connector.sync.runtime import offline_pipeline


def build_report(
    settings: Settings,
    store: Store,
    *,
    since: datetime,
    until: datetime,
    sources: Sequence[str] = (),
    types: Sequence[str] = (),
    clock: Callable[[], datetime] = utcnow,
) -> tuple[list[ReportRow], Summary]:
    rows: list[ReportRow] = []
    now = clock()
    names = [n for n in settings.sources if not sources or n in sources]
    left_out = {"created after the period": 0, "other types (--type)": 0, "deleted": 0}
    # The audit chain is verified beside the build (in a child process where it can be: see
    # `apart.py`). An in-memory SQLite store is one connection's: verified after the build.
    with ThreadPoolExecutor(max_workers=1) as pool, collector_paused():
        anchors = settings.audit.anchor_file
        verified = verify_beside(store, anchors, pool) if store.shared_between_threads else None
        for name in names:
            rows += _source_rows(
                settings,
                store,
                name,
                settings.sources[name],
                period=(since, until),
                types=set(types),
                now=now,
                left_out=left_out,
            )
        rows.sort(key=attrgetter("created", "source", "key"))
        zone = settings.policy.time_zone
        summary = summarize(rows, since=since, until=until, generated_at=now, time_zone=zone)
        offset = since.astimezone(settings.policy.zone()).utcoffset() or timedelta(0)
        context = gather(
            settings,
            store,
            since=since,
            until=until,
            names=names,
            in_scope=len(rows),
            deleted=left_out.pop("deleted"),
            out_of_scope=left_out,
            filters={"source": list(sources), "type": list(types)},
            audit=verified() if verified is not None else None,
        )
        metrics = delivery_metrics(
            rows,
            utc_offset=offset,
            weights={str(k): v for k, v in settings.reports.success_score.items()},
        )
        deployed = _deployments(store, since=since, until=until, sources=sources)
        exceptions = {**summary.exceptions, UNAUTHORIZED: unauthorized_refs(deployed)}
        summary = dataclasses.replace(
            summary,
            context=context,
            metrics=metrics,
            deployments=tuple(deployed),
            exceptions=exceptions,
        )
        return rows, summary


def _deployments(
    store: Store, *, since: datetime, until: datetime, sources: Sequence[str]
) -> list[DeploymentLine]:
    """The deployments started in the period (with --source: those of its changes and those
    without a change)."""
    rows = store.deployments(since=since, until=until)
    return [
        DeploymentLine(
            provider=r.provider,
            reference=r.reference,
            service=r.service,
            environment=r.environment,
            commit=r.commit,
            change=f"{r.change_source}:{r.change_key}" if r.change_key else "",
            triggered_by=r.triggered_by,
            outcome=r.outcome,
            started_at=r.started_at,
            finished_at=r.finished_at,
            verdict=r.verdict,
            reasons=r.reasons,
            unauthorized=r.unauthorized,
            url=r.url,
        )
        for r in rows
        if not sources or r.change_source is None or r.change_source in sources
    ]


def _source_rows(
    settings: Settings,
    store: Store,
    name: str,
    source: SourceSettings,
    *,
    period: tuple[datetime, datetime],
    types: set[str],
    now: datetime,
    left_out: dict[str, int],
) -> list[ReportRow]:
    """`left_out`: counts, by rule, of the changes read but not reported, and of those
    recorded as deleted (added to)."""
    since, until = period
    under = basis(settings.policy, settings.release_notes)
    posted = _posted(store, name)
    told = (
        store.ledger_first_applied(source=name, ticket_keys=None, action=PUBLIC)
        if settings.release_notes.enabled
        else None
    )
    stored = store.report_answers_all(name, updated_since=since, now=now)
    out, stale = rows_from(
        stored,
        basis_now=under,
        now=now,
        until=until,
        types=types,
        posted=posted,
        told=told,
        left_out=left_out,
    )
    for taken in _taken_again(settings, store, name, source, stale, now=now):
        if (why := taken.left_out(until=until, types=types)) is None:
            out.append(_finish(taken, posted, told, now=now))
        else:
            left_out[why] += 1
    return out


def _finish(
    taken: Answers,
    posted: dict[str, bool],
    told: dict[str, datetime] | None,
    *,
    now: datetime,
) -> ReportRow:
    """`told`: when customers were first told, per ticket (None: release notes are off, so the
    earliest they could have been told is the approval)."""
    key = taken.key
    told_at = taken.approved_at if told is None else told.get(key)
    return finish(taken, posted=posted.get(key), told_at=told_at, now=now)


def _posted(store: Store, source: str) -> dict[str, bool]:
    """Per ticket with a release note planned: whether its newest note of some purpose reached
    the ticket."""
    out: dict[str, bool] = {}
    for purpose in (INTERNAL, PUBLIC):
        for key, entry in store.ledger_latest(
            source=source, ticket_keys=None, action=purpose
        ).items():
            out[key] = out.get(key, False) or entry.state == "applied"
    return out


def _taken_again(
    settings: Settings,
    store: Store,
    name: str,
    source: SourceSettings,
    keys: Sequence[str],
    *,
    now: datetime,
) -> Iterator[Answers]:
    """Answers for changes whose stored ones do not hold: the policy evaluates them again."""
    if not keys:
        return
    pipeline = offline_pipeline(name, source, store, policy=settings.policy, clock=lambda: now)
    under = basis(settings.policy, settings.release_notes)
    for chunk in batched(keys, 500):
        rows = store.stored_changes(name, chunk)
        changes = [Change.from_json(rows[key].data) for key in chunk if key in rows]
        bases = store.approval_bases(name, [c.key for c in changes])
        for item in pipeline.reevaluate_rows(rows, changes).evaluated:
            snapshot = next(
                (b for b in reversed(bases.get(item.change.key, [])) if b.snapshot), None
            )
            approved = (
                approved_view(snapshot.snapshot, at=snapshot.recorded_at, policy=settings.policy)
                if snapshot is not None and snapshot.snapshot
                else None
            )
            yield loads(
                answers(
                    item.change,
                    item.evaluation,
                    approved=approved,
                    policy=settings.policy,
                    release_notes=settings.release_notes,
                    now=now,
                    taken_under=under,
                )
            )

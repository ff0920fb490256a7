"""The store's side of a batch's evaluation: what the pipeline reads for it before the judge,
which does no I/O, runs (`reads_for`), and the notifications it leaves out of the plans after
(`drop_posted`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from connector.core.communications import INTERNAL, PUBLIC, ReleaseNotesSettings
from connector.core.model import Change
from connector.core.planner import FINDINGS, NoteVersion
from connector.store import Store
from connector.sync.evaluation import Reads
from connector.sync.neighbours import Neighbours
from connector.sync.recording import Evaluated


def reads_for(
    store: Store,
    near: Neighbours,
    changes: Sequence[Change],
    *,
    now: datetime,
    release_notes: ReleaseNotesSettings,
    prints: Mapping[str, str],
    extra_steps: Mapping[str, Sequence[str]] | None = None,
) -> Reads:
    """What the store says for these changes' evaluations (`evaluation.Reads`), on the source
    whose windows `near` reads."""
    instance, keys = near.source, [c.key for c in changes]
    notes = store.ledger_latest(source=instance, ticket_keys=keys, action=FINDINGS)
    told: dict[str, dict[str, NoteVersion]] = {}
    if release_notes.enabled:
        for purpose in (INTERNAL, PUBLIC):
            latest = store.ledger_latest(source=instance, ticket_keys=keys, action=purpose)
            for key, entry in latest.items():
                told.setdefault(key, {})[purpose] = entry.version
    return Reads(
        now=now,
        near=[(r.change_key, r.system, r.starts_at, r.ends_at) for r in near.rows(changes)],
        board=store.board_decisions(instance, keys),
        bases=store.approval_bases(instance, keys),
        last_note={key: entry.version for key, entry in notes.items()},
        told=told,
        prints={c.key: prints[c.key] for c in changes},
        extra_steps=extra_steps or {},
    )


def drop_posted(store: Store, evaluated: list[Evaluated], *, start: int) -> None:
    """Leave out of the plans of `evaluated[start:]` the notifications the ledger already
    holds (posted, or to be posted): each fact is planned once, and a second pass plans
    nothing."""
    items = evaluated[start:]
    alerts = [a.idempotency_key for e in items for a in e.plan.actions if a.channel]
    known = store.ledger_known(alerts) if alerts else set()
    if not known:
        return
    for i, item in enumerate(items, start):
        kept = tuple(a for a in item.plan.actions if a.idempotency_key not in known)
        if len(kept) != len(item.plan.actions):
            plan_ = item.plan.model_copy(update={"actions": kept})
            evaluated[i] = replace(item, plan=plan_)

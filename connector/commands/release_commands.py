"""`change-connector release-notes`: per-release notes per audience, the "what's new" feed,
notice tracking, and posting a release note to the tickets of the release.

Changes come from the store (a release by name, or the changes planned in a date range); only
`--post` writes, through the ledger and the tickets' markers like every other write.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.commands.report_commands import period
from connector.commands.worker_commands import open_store, write_or_print
from connector.core.communications import PUBLIC, notices
from connector.core.errors import ConfigError, WriteFailed
from connector.core.model import Audience, Change
from connector.core.notes.guidance import GUIDANCE, route
from connector.core.notes.pointer import release_pointer, release_url
from connector.core.notes.render import is_internal, render_release
from connector.core.planner import revised_note
from connector.serve.worker import Worker
from connector.settings import Settings, load_settings
from connector.store import Store
from connector.sync.executor import Outcome
from connector.sync.recording import record_action
from connector.sync.runtime import SourceRuntime

FORMATS = ("md", "html", "txt", "json", "wiki", "sn", "adf")


def select(
    store: Store,
    settings: Settings,
    *,
    release: str | None,
    since: datetime | None,
    until: datetime | None,
    sources: Sequence[str],
) -> list[Change]:
    """The release's changes, or those planned (else created) in [since, until)."""
    out = []
    for name in settings.sources:
        if sources and name not in sources:
            continue
        for row in store.iter_stored(name):
            change = Change.from_json(row.data)
            if release is not None:
                if change.release == release:
                    out.append(change)
                continue
            when = change.planned_start or change.created
            if since is not None and until is not None and since <= when < until:
                out.append(change)
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda c: (c.planned_start or far, c.source.instance, c.key))


def feed(changes: Sequence[Change], *, audience: Audience, settings: Settings) -> str:
    """The "what's new" feed: items a product can show as in-app tips, for one audience."""
    internal = is_internal(audience)
    items = []
    for c in changes:
        if audience not in route(c, settings.release_notes.routes):
            continue
        item: dict[str, Any] = {
            "id": f"{c.source.instance}:{c.key}",
            "title": c.title,
            "date": c.planned_start.isoformat() if c.planned_start else None,
            "systems": list(c.affected_systems),
            "release": c.release or None,
            "security": {
                "level": c.security.level.value if c.security.level else None,
                "categories": [
                    {"category": cat.value, "meaning": GUIDANCE[cat][0], "do": GUIDANCE[cat][1]}
                    for cat in c.security.categories
                ],
            },
        }
        if internal:
            item |= {"url": c.url, "rollback_plan": c.rollback_plan}
        items.append(item)
    generated = datetime.now(UTC).isoformat()
    body = {"audience": audience.value, "generated_at": generated, "items": items}
    return json.dumps(body, indent=2, ensure_ascii=False)


def notice_table(changes: Sequence[Change], *, settings: Settings, store: Store) -> str:
    now = datetime.now(UTC)
    told: dict[tuple[str, str], datetime] = {}
    for source in {c.source.instance for c in changes}:
        keys = [c.key for c in changes if c.source.instance == source]
        first = store.ledger_first_applied(source=source, ticket_keys=keys, action=PUBLIC)
        told |= {(source, key): at for key, at in first.items()}
    lines = ["| change | audience | tell by | told at | notice |", "|---|---|---|---|---|"]
    for c in changes:
        owed = notices(
            c,
            notice_days=settings.policy.notice_days,
            settings=settings.release_notes,
            told_at=told.get((c.source.instance, c.key)),
            now=now,
        )
        for n in owed:
            at = f"{n.told_at:%Y-%m-%d %H:%M}" if n.told_at else "-"
            lines.append(
                f"| {c.source.instance}:{c.key} | {n.audience.value} | "
                f"{n.deadline:%Y-%m-%d %H:%M} | {at} | {n.status} |"
            )
    return "\n".join(lines) + "\n"


def run_release_notes(
    *,
    config: Path | None,
    release: str | None,
    since: str | None,
    until: str | None,
    audience: str,
    fmt: str,
    out: Path | None,
    sources: list[str],
    post: bool,
    notice: bool,
) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        who = Audience(audience)
    except ValueError:
        known = ", ".join(a.value for a in Audience)
        raise ConfigError(f"--audience: {audience!r} is not one of {known}") from None
    if (release is None) == (since is None):
        raise ConfigError("--release or --since: name a release, or a period (not both)")
    settings = load_settings(config)
    if unknown := [s for s in sources if s not in settings.sources]:
        known = ", ".join(settings.sources)
        raise ConfigError(f"--source: no source named {unknown[0]!r} (known: {known})")
    start = end = None
    if since is not None:
        start, end = period(since, until, settings.policy.zone())
    with closing(open_store(settings, appends=post)) as store:
        changes = select(store, settings, release=release, since=start, until=end, sources=sources)
        if release is not None and not changes:
            raise ConfigError(unknown_release(store, settings, release=release, sources=sources))
        if notice:
            write_or_print(notice_table(changes, settings=settings, store=store), out)
            return
        name = release or f"{since} to {until or 'today'}"
        if post:
            if release is None:
                raise ConfigError("--post: only a named --release is posted to its tickets")
            posted = post_release(settings, store, release=release, audience=who, changes=changes)
            sys.stdout.write(
                f"release note for {who.value}: {posted.written} write(s) to tickets\n"
            )
            for line in posted.withheld:
                sys.stdout.write(f"  not written: {line}\n")
            if posted.failures:
                raise WriteFailed.of(posted.failures)
            return
    if fmt == "json":
        text = feed(changes, audience=who, settings=settings)
    else:
        templates = settings.release_notes.templates_dir
        text = render_release(
            name,
            changes,
            audience=who,
            fmt=fmt,
            templates=templates,
            routes=settings.release_notes.routes,
        )
    write_or_print(text, out)


def unknown_release(
    store: Store, settings: Settings, *, release: str, sources: Sequence[str]
) -> str:
    """The one line for a release no stored change is in: the releases there are."""
    names: set[str] = set()
    for name in settings.sources:
        if not sources or name in sources:
            names |= {r for row in store.iter_stored(name) if (r := release_of(row.data))}
    if not names:
        return (
            f"--release: no stored change is in release {release!r}, and none names a release "
            "(sync first, and check that the mapping fills `release`)"
        )
    shown = sorted(names, reverse=True)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return (
        f"--release: no stored change is in release {release!r} (releases: "
        f"{', '.join(shown[:10])}{more})"
    )


def release_of(data: str) -> str:
    """A stored change's release name on one line (names come from the tickets)."""
    return " ".join((Change.from_json(data).release or "").split())[:100]


def release_tickets(settings: Settings, store: Store, source: str, release: str) -> list[Change]:
    """The release's own tickets in `source`: its `release_tickets` key, or the stored changes
    titled as `release_ticket_title` says for this release; none when neither is configured."""
    notes = settings.release_notes
    ticket = notes.release_tickets.get(source)
    if ticket:
        stored = store.stored_changes(source, [ticket])
        if ticket not in stored:
            raise ConfigError(
                f"release_notes.release_tickets.{source}: {ticket} is not in the store: a release "
                "ticket must be in the source's scope (its mapping's [scope], policy.scope) and "
                "synced"
            )
        return [Change.from_json(stored[ticket].data)]
    if not notes.release_ticket_title:
        return []
    title = " ".join(notes.release_ticket_title.replace("{release}", release).split()).casefold()
    found = []
    for row in store.iter_stored(source):
        change = Change.from_json(row.data)
        if " ".join(change.title.split()).casefold() == title:
            found.append(change)
    return sorted(found, key=lambda c: c.key)


@dataclass
class Posted:
    written: int = 0
    withheld: list[str] = field(default_factory=list)  # "source KEY: why" (the source's gate)
    failures: list[str] = field(default_factory=list)  # the writes that failed, and why


def post_release(
    settings: Settings, store: Store, *, release: str, audience: Audience, changes: list[Change]
) -> Posted:
    """The release note on the release's own tickets where a source has them; else a short note
    naming the full one on each change of the release for `audience`. Once per ticket and
    audience, edited in place when it changes; nothing on a source in observe mode or a ticket
    its `act_on_changes_updated_after` holds."""
    posted = Posted()
    with closing(Worker(settings, store)) as worker:
        for name in sorted({c.source.instance for c in changes}):
            worker.open(name)
            rt = worker.runtimes[name]
            own = [c for c in changes if c.source.instance == name]
            fmt = rt.capabilities.note_format
            purpose = f"release:{release}:{audience.value}"
            posts = release_posts(
                settings, store, rt=rt, release=release, audience=audience, own=own, fmt=fmt
            )
            last = store.ledger_latest(
                source=name, ticket_keys=[t.key for t, _ in posts], action=purpose
            )
            with store.transaction() as tx:
                for target, body in posts:
                    before = last.get(target.key)
                    revised = revised_note(
                        target,
                        purpose=purpose,
                        body=body,
                        last=before.version if before is not None else None,
                    )
                    if revised is None:
                        continue  # planned already, written or to be
                    action = revised.model_copy(update={"internal": is_internal(audience)})
                    kept, held = rt.gate.split(target, (action,))
                    for planned in kept:
                        record_action(tx, planned)
                    posted.withheld += [f"{name} {target.key}: {h.reason}" for h in held]
            executor = rt.executor(worker=worker.name)
            # The release's notes only: other pending or failed writes are the worker's.
            executor.only = lambda _, action, purpose=purpose: action == purpose
            posted.written += executor.apply_pending(name)[Outcome.WRITTEN]
            posted.failures += [f.line for f in executor.failures]
    return posted


def release_posts(
    settings: Settings,
    store: Store,
    *,
    rt: SourceRuntime,
    release: str,
    audience: Audience,
    own: list[Change],
    fmt: str,
) -> list[tuple[Change, str]]:
    """(ticket, body) of one source: the full note on its release tickets, else the short note
    on each of its changes in the release that the audience's note lists."""
    notes = settings.release_notes
    targets = release_tickets(settings, store, rt.name, release)
    if targets:
        keys = {t.key for t in targets}
        body = render_release(
            release,
            [c for c in own if c.key not in keys],
            audience=audience,
            fmt=fmt,
            templates=notes.templates_dir,
            routes=notes.routes,
        )
        return [(t, body) for t in targets]
    url = release_url(notes.release_note_url, release)
    short = release_pointer(release, audience=audience, fmt=fmt, url=url)
    return [(c, short) for c in own if audience in route(c, notes.routes)]

"""What `status` shows, as data: per source its mode, cursor and scope; the last runs; every
action not applied (failed or pending: ticket, action, reason, attempts); every ticket skipped
with its one-line reason; and a warning per source whose scope matched no ticket.

`status_data` reads the store and the mapping files (no ticket system); `status --json` prints
it as it is, `print_status` renders the same dict as tables. `scope_text` and
`empty_scope_warning` are shared with `sync`, which warns the same way after a poll that found
nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from connector.core.cursor import Cursor
from connector.core.errors import ConfigError
from connector.core.mapping import Mapping, load_mapping
from connector.settings import Settings
from connector.store import Store
from connector.sync.reader import scope_jql
from connector.sync.runtime import scoped


def scope_text(mapping: Mapping) -> str:
    """The scope as the source is asked for it: the JQL, or the ServiceNow table and query."""
    if mapping.system == "jira":
        return f"jql: {scope_jql(mapping, order=False) or '(every issue)'}"
    query = mapping.scope.query or "(every record)"
    return f"table {mapping.scope.table}, query: {query}"


def empty_scope_warning(source: str, mapping: Mapping) -> str:
    return (
        f"warning: sources.{source}: its scope matched no ticket ({scope_text(mapping)}); "
        "check the mapping's [scope] and policy.scope"
    )


def source_mapping(settings: Settings, name: str) -> Mapping:
    """The source's mapping with the policy's scope applied, read from its file."""
    mapping = load_mapping(settings.sources[name].mapping)
    rule = settings.policy.scope.get(name)
    return scoped(mapping, rule, where=f"policy.scope.{name}") if rule else mapping


def status_data(settings: Settings, store: Store) -> dict[str, Any]:
    cursors = store.cursors()
    sources: list[dict[str, Any]] = []
    warnings: list[str] = []
    skipped: list[dict[str, Any]] = []
    for name, source in settings.sources.items():
        mark = Cursor.loads(cursors.get(name)).high_water
        stored = store.count_changes(name)
        skips = store.skipped_tickets(name)
        skipped += [
            {"source": name, "ticket": s.ticket_key, "reason": s.reason, "at": s.at.isoformat()}
            for s in skips
        ]
        try:
            mapping = source_mapping(settings, name)
            scope = scope_text(mapping)
        except ConfigError as exc:
            mapping, scope = None, f"(mapping not readable: {exc.message})"
        after = source.act_after(settings.policy.zone())
        sources.append(
            {
                "source": name,
                "mode": source.mode,
                "act_on_changes_updated_after": after.isoformat() if after else None,
                "cursor": mark.isoformat() if mark else None,
                "changes_stored": stored,
                "scope": scope,
            }
        )
        polled = store.last_success(name) is not None
        if mapping is not None and polled and not stored and not skips:
            warnings.append(empty_scope_warning(name, mapping))
    actions = [
        {
            "source": e.source,
            "ticket": e.ticket_key,
            "action": e.action,
            "state": "failed" if e.state == "failed" else "pending",
            "reason": e.error or "",
            "attempts": e.attempts,
            "planned_at": e.created_at.isoformat(),
        }
        for e in store.open_actions()
        if e.source in settings.sources
    ]
    runs = [
        {
            "kind": r.kind,
            "source": r.source,
            "started_at": r.started_at.isoformat(timespec="seconds"),
            "status": r.status,
            "seen": r.tickets_seen,
            "changed": r.tickets_changed,
            "written": r.actions_applied,
            "error": r.error,
        }
        for r in store.last_runs(10)
    ]
    return {
        "sources": sources,
        "inbox_depth": store.inbox_depth(),
        "runs": runs,
        "actions": actions,
        "skipped": skipped,
        "warnings": warnings,
    }


def print_status(settings: Settings, store: Store, *, as_json: bool) -> None:
    """`status`: the tables (warnings on stderr), or with `as_json` the data as it is."""
    data = status_data(settings, store)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    console = Console()
    table = Table(title="Sources")
    for column in ("source", "mode", "cursor", "changes stored", "scope"):
        table.add_column(column)
    for s in data["sources"]:
        mode = s["mode"]
        if s["act_on_changes_updated_after"]:
            mode += f" (changes updated after {s['act_on_changes_updated_after']})"
        cursor = s["cursor"] or "(never polled)"
        table.add_row(s["source"], mode, cursor, str(s["changes_stored"]), s["scope"])
    console.print(table)
    console.print(f"Inbox depth: {data['inbox_depth']}")
    runs = Table(title="Last runs")
    for column in ("kind", "source", "started", "status", "seen", "changed", "written", "error"):
        runs.add_column(column)
    for r in data["runs"]:
        runs.add_row(
            r["kind"],
            r["source"] or "-",
            r["started_at"],
            r["status"],
            str(r["seen"]),
            str(r["changed"]),
            str(r["written"]),
            r["error"] or "",
        )
    console.print(runs)
    _print_problems(console, data)
    for line in data["warnings"]:
        sys.stderr.write(line + "\n")


def _print_problems(console: Console, data: dict[str, object]) -> None:
    actions = data["actions"]
    skipped = data["skipped"]
    assert isinstance(actions, list) and isinstance(skipped, list)
    if actions:
        table = Table(title=f"Actions not applied ({len(actions)})")
        for column in ("source", "ticket", "action", "state", "attempts", "reason"):
            table.add_column(column)
        for a in actions:
            table.add_row(
                a["source"], a["ticket"], a["action"], a["state"], str(a["attempts"]), a["reason"]
            )
        console.print(table)
    else:
        console.print("Actions not applied: none")
    if skipped:
        table = Table(title=f"Skipped tickets ({len(skipped)})")
        for column in ("source", "ticket", "reason"):
            table.add_column(column)
        for item in skipped:
            table.add_row(item["source"], item["ticket"], item["reason"])
        console.print(table)
    else:
        console.print("Skipped tickets: none")

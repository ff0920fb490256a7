"""The floor of `sync_bench.py`: the fewest calls a run could make, computed from its plan.

Per system, a run needs its search pages (ceil(tickets seen / page size), at least one) plus one
call per distinct write the plan asked for: the ledger's rows (one per ticket and purpose: a
note, a transition, a label), chat posts left out (they are not calls to the source). Fixed
calls (serverInfo, myself, field) and marker writes around a note (Jira Cloud: the bulk marker
writes and their task reads) are above the floor.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from connector.store.store import DB_FILE_NAME

SYSTEM_OF_SOURCE = {"sandbox-jira": "jira", "sandbox-servicenow": "servicenow"}


def plan_state(data: Path) -> tuple[set[tuple[str, str, str]], dict[str, int]]:
    """The distinct writes in the ledger (source, ticket, purpose; chat posts left out) and,
    per source, the tickets seen by the runs recorded so far."""
    db = sqlite3.connect(f"file:{data / DB_FILE_NAME}?mode=ro", uri=True)
    try:
        writes = {
            (source, ticket, purpose)
            for source, ticket, purpose, payload in db.execute(
                "SELECT source, ticket_key, action, payload FROM ledger WHERE state != 'dropped'"
            )
            if payload is None or json.loads(payload).get("kind") != "notify"
        }
        seen = dict(
            db.execute("SELECT source, SUM(tickets_seen) FROM runs GROUP BY source").fetchall()
        )
    finally:
        db.close()
    return writes, seen


def floor(
    before: tuple[set[tuple[str, str, str]], dict[str, int]],
    after: tuple[set[tuple[str, str, str]], dict[str, int]],
    *,
    page_size: int,
    made: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """Per system: the calls one run needs at least (its pages + its new distinct writes)
    beside the calls it made."""
    out: dict[str, Any] = {}
    for source, seen in after[1].items():
        system = SYSTEM_OF_SOURCE[source]
        tickets = seen - before[1].get(source, 0)
        new = [w for w in after[0] - before[0] if w[0] == source]
        pages = max(1, math.ceil(tickets / page_size))
        total = made.get(system, {}).get("total", 0)
        out[system] = {
            "tickets_seen": tickets,
            "floor_search_pages": pages,
            "floor_distinct_writes": len(new),
            "floor": pages + len(new),
            "calls_made": total,
            "search_pages_made": made.get(system, {}).get("search_pages", 0),
            "writes_made": made.get(system, {}).get("writes", 0),
            "calls_over_floor": round(total / (pages + len(new)), 2),
        }
    return out

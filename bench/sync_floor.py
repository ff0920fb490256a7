"""The floor of `sync_bench.py`: the fewest calls a run could make, computed from its plan.

Per system, a run needs its search pages (ceil(tickets seen / page size), at least one) plus the
calls of each distinct write the plan asked for: the ledger's rows (one per ticket and purpose:
a note, a transition, a label), chat posts left out (they are not calls to the source). A
write is one call, but a transition of several steps (a change approved and scheduled in one
cycle) is one call a step: Jira's `POST /issue/{id}/transitions` takes one transition, and a
ServiceNow change moves one state at a time. Fixed calls (serverInfo, myself, field) and marker
writes around a note (Jira Cloud: the bulk marker writes and their task reads) are above the
floor.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from connector.store.store import DB_FILE_NAME

SYSTEM_OF_SOURCE = {"sandbox-jira": "jira", "sandbox-servicenow": "servicenow"}


Write = tuple[str, str, str]  # source, ticket, purpose
PlanState = tuple[dict[Write, int], dict[str, int]]


def plan_state(data: Path) -> PlanState:
    """The distinct writes in the ledger (source, ticket, purpose; chat posts left out) with the
    calls each takes (its steps), and, per source, the tickets seen by the runs so far."""
    db = sqlite3.connect(f"file:{data / DB_FILE_NAME}?mode=ro", uri=True)
    writes: dict[Write, int] = {}
    try:
        for source, ticket, purpose, payload in db.execute(
            "SELECT source, ticket_key, action, payload FROM ledger WHERE state != 'dropped'"
        ):
            action = json.loads(payload) if payload is not None else {}
            if action.get("kind") == "notify":
                continue
            write = (source, ticket, purpose)
            writes[write] = max(writes.get(write, 1), len(action.get("steps") or ()))
        seen = dict(
            db.execute("SELECT source, SUM(tickets_seen) FROM runs GROUP BY source").fetchall()
        )
    finally:
        db.close()
    return writes, seen


def floor(
    before: PlanState,
    after: PlanState,
    *,
    page_size: int,
    made: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """Per system: the calls one run needs at least (its pages + the calls of its new distinct
    writes) beside the calls it made."""
    out: dict[str, Any] = {}
    for source, seen in after[1].items():
        system = SYSTEM_OF_SOURCE[source]
        tickets = seen - before[1].get(source, 0)
        new = [w for w in after[0].keys() - before[0].keys() if w[0] == source]
        writes = sum(after[0][w] for w in new)
        pages = max(1, math.ceil(tickets / page_size))
        total = made.get(system, {}).get("total", 0)
        out[system] = {
            "tickets_seen": tickets,
            "floor_search_pages": pages,
            "floor_distinct_writes": len(new),
            "floor_write_calls": writes,
            "floor": pages + writes,
            "calls_made": total,
            "search_pages_made": made.get(system, {}).get("search_pages", 0),
            "writes_made": made.get(system, {}).get("writes", 0),
            "calls_over_floor": round(total / (pages + writes), 2),
        }
    return out

"""The auditor's sample pack: a reproducible random sample of the period's changes, each with
its full evidence chain, an index to the SOC 2 CC8.1 points each item evidences, and a manifest
of SHA-256 digests (`sha256sum -c MANIFEST.sha256` checks it).

Per sampled change, in `<source>/<key>/`: the normalized change now and as its approvers saw it,
its approvals with their times, its findings (open now, and every raise / resolution from the
audit trail), the actions the worker took (the ledger), its audit links with their hashes, and
its report row. The sample is drawn with `random.Random(seed)` from the sorted population, so
the same seed over the same store draws the same changes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.pipeline import utcnow
from connector.reports.build import build_report
from connector.reports.model import ReportRow
from connector.settings import Settings
from connector.store import Store

# SOC 2 (2017 TSC, revised points of focus 2022) CC8.1: what each evidence file shows.
CC81 = {
    "change.json": ["Documents changes", "Identifies and evaluates system changes"],
    "change-at-approval.json": [
        "Authorizes changes",
        "Documents changes",
        "Identifies and evaluates system changes",
    ],
    "approvals.json": ["Authorizes changes", "Approves system changes"],
    "findings.json": [
        "Identifies and evaluates system changes",
        "Manages changes throughout the system life cycle",
    ],
    "actions.json": ["Tracks system changes", "Manages changes throughout the system life cycle"],
    "audit.jsonl": ["Tracks system changes"],
    "report-row.json": [
        "Approves system changes",
        "Deploys system changes",
        "Provides for changes necessary in emergency situations",
    ],
}


def write_sample(
    settings: Settings,
    store: Store,
    *,
    size: int,
    seed: str,
    since: datetime,
    until: datetime,
    out: Path,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Write the pack to `out`; returns the sampled refs ("source:key")."""
    rows, summary = build_report(settings, store, since=since, until=until, clock=clock)
    by_ref = {f"{r.source}:{r.key}": r for r in rows}
    population = sorted(by_ref)
    chosen = sorted(random.Random(seed).sample(population, min(size, len(population))))
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for ref in chosen:
        row = by_ref[ref]
        folder = out / _safe(row.source) / _safe(row.key)
        files = _evidence(store, row, folder)
        index.append(
            {
                "change": ref,
                "title": row.title,
                "url": row.url,
                "approved_before_implemented": row.approved_before_implemented,
                "separation_of_duties": row.separation_of_duties,
                "files": {
                    str((folder / name).relative_to(out)): CC81[name] for name in sorted(files)
                },
            }
        )
    head = store.audit_head()
    _write_json(
        out / "sample.json",
        {
            "seed": seed,
            "size": size,
            "population": len(population),
            "period": {"since": since.isoformat(), "until": until.isoformat()},
            "audit_chain_head": {"seq": head.seq, "hash": head.hash} if head else None,
            "audit_chain_intact": store.verify_audit() is None,
            "sampled": chosen,
        },
    )
    _write_json(out / "index.json", index)
    (out / "index.md").write_text(_index_md(index, seed=seed, summary_total=summary.total))
    _manifest(out)
    return chosen


def _evidence(store: Store, row: ReportRow, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    stored = store.stored_changes(row.source, [row.key])[row.key]
    bases = store.approval_bases(row.source, [row.key]).get(row.key, [])
    files = {
        "change.json": json.loads(stored.data),
        "approvals.json": {
            "approvers": [asdict(a) for a in row.approvers],
            "approved_at": row.approved_at,
            "approval_bases": [
                {"approvals": b.approvals_digest, "recorded_at": b.recorded_at} for b in bases
            ],
        },
        "findings.json": {
            "open": json.loads(stored.findings or "[]"),
            "history": [
                {"seq": a.seq, "at": a.at, "event": a.event, **a.detail}
                for a in store.audit_for(row.source, row.key)
                if a.event.startswith("finding.")
            ],
        },
        "actions.json": [
            {
                "action": e.action,
                "state": e.state,
                "planned_at": e.created_at,
                "applied_at": e.applied_at,
                "remote_ref": e.remote_ref,
                "error": e.error,
            }
            for e in store.ledger_for(source=row.source, ticket_key=row.key)
        ],
        "report-row.json": {**row._asdict(), "approvers": [asdict(a) for a in row.approvers]},
    }
    snapshot = next((b.snapshot for b in reversed(bases) if b.snapshot), None)
    if snapshot:
        files["change-at-approval.json"] = json.loads(snapshot)
    for name, data in files.items():
        _write_json(folder / name, data)
    with (folder / "audit.jsonl").open("w", encoding="utf-8") as fh:
        for a in store.audit_for(row.source, row.key):
            fh.write(_dumps(asdict(a), indent=None) + "\n")
    return [*files, "audit.jsonl"]


def _index_md(index: list[dict[str, Any]], *, seed: str, summary_total: int) -> str:
    lines = [
        "# Auditor sample pack",
        "",
        f"{len(index)} change(s) drawn with seed {seed!r} from {summary_total} in the period. "
        "Check the files with `sha256sum -c MANIFEST.sha256`.",
        "",
        "| change | approved before implemented | separation of duties | evidence (CC8.1) |",
        "|---|---|---|---|",
    ]
    for item in index:
        evidence = "<br>".join(f"{f}: {', '.join(p)}" for f, p in item["files"].items())
        lines.append(
            f"| {item['change']} | {item['approved_before_implemented']} | "
            f"{item['separation_of_duties']} | {evidence} |"
        )
    return "\n".join(lines) + "\n"


def _manifest(out: Path) -> None:
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "MANIFEST.sha256"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(out).as_posix()}")
    (out / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(_dumps(data, indent=2) + "\n", encoding="utf-8")


def _dumps(data: Any, *, indent: int | None) -> str:
    def default(value: object) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False, default=default)


def _safe(name: str) -> str:
    """A path component from a source name or ticket key: no separators, no dot-dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")
    return cleaned or "_"

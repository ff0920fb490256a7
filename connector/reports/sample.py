"""The auditor's sample pack: a reproducible random sample of the changes implemented (or
closed) in the period, each with its full evidence chain, an index to the SOC 2 CC8.1 point each
file evidences and why, and a signed manifest (`pack.py`; `report verify-pack DIR` checks it).

The population is every reported change whose implementation started in the period, or which
was closed with its recorded end in the period (a closed change without recorded times counts
when it was created in the period), written as `population.csv` in a stable order (source,
key). The sample is drawn with `random.Random(seed).sample` over that order, so the same seed
over the same store draws the same changes and an auditor can re-draw it; `--all-exceptions`
adds every change of the population with an exception. Per sampled change, in
`<source>/<key>/`: the normalized change now and as its approvers saw it, its approvals with
their times, its findings (open now, and every raise / resolution from the audit trail), the
actions the worker took (the ledger), its audit links with their hashes, its report row, and a
one-page evidence sheet (`evidence.html`). No file holds the time the pack was made, so the
same store and seed give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.core.audit_detail import finding_links
from connector.core.errors import ConfigError
from connector.reports.build import build_report
from connector.reports.deployments import DeploymentLine
from connector.reports.model import ReportRow
from connector.reports.pack import MANIFEST, SIGNATURE, sign_pack
from connector.reports.sections import md_cell
from connector.reports.sheet import evidence_sheet
from connector.reports.summary import Summary, exception_kinds
from connector.settings import Settings
from connector.store import Store
from connector.sync.page import utcnow

# SOC 2 (2017 TSC, revised points of focus 2022) CC8.1: per evidence file, the points of focus
# it evidences and why.
CC81: dict[str, tuple[list[str], str]] = {
    "change.json": (
        ["Documents changes", "Identifies and evaluates system changes"],
        "the change as it stands: what was asked, its class, risk, systems and plans",
    ),
    "change-at-approval.json": (
        ["Authorizes changes", "Identifies and evaluates system changes"],
        "the change as its approvers saw it when they approved (the approval basis)",
    ),
    "approvals.json": (
        ["Authorizes changes", "Approves system changes"],
        "who approved, in which group, when; the approval bases recorded",
    ),
    "findings.json": (
        [
            "Identifies and evaluates system changes",
            "Manages changes throughout the system life cycle",
        ],
        "the policy's findings open now and every raise and resolution in the audit trail",
    ),
    "actions.json": (
        ["Tracks system changes", "Manages changes throughout the system life cycle"],
        "what the connector posted to the ticket (notes, transitions) and when",
    ),
    "audit.jsonl": (
        ["Tracks system changes"],
        "the change's hash-chained audit links: each links to the one before it",
    ),
    "report-row.json": (
        [
            "Approves system changes",
            "Deploys system changes",
            "Provides for changes necessary in emergency situations",
        ],
        "the report's answers: approved before implemented, separation of duties, reviews",
    ),
    "evidence.html": (
        ["Authorizes changes", "Approves system changes", "Deploys system changes"],
        "one page for people: request, approvals with times, checks, implementation, outcome",
    ),
}
# The pack's own files.
PACK_FILES: dict[str, str] = {
    "population.csv": "the population the sample is drawn from, in the order the draw uses",
    "sample.json": "the seed, the size, the period, the population count and the sampled changes",
    "index.json": "this index, as data",
    MANIFEST: "SHA-256 of every file (sha256sum -c MANIFEST.sha256)",
    SIGNATURE: "HMAC-SHA256 of the manifest under the configured pack key",
}
POPULATION_COLUMNS = (
    "source",
    "key",
    "title",
    "change_type",
    "status",
    "implemented_at",
    "implemented_end",
    "outcome",
    "exceptions",
)


def population(rows: list[ReportRow], *, since: datetime, until: datetime) -> list[ReportRow]:
    """The changes implemented or closed in [since, until), in a stable order (source, key)."""

    def inside(at: datetime | None) -> bool:
        return at is not None and since <= at < until

    chosen = [
        r
        for r in rows
        if inside(r.implemented_at)
        or (r.status == "closed" and inside(r.implemented_end))
        or (
            r.status == "closed"
            and r.implemented_at is None
            and r.implemented_end is None
            and inside(r.created)
        )
    ]
    return sorted(chosen, key=lambda r: (r.source, r.key))


def draw(
    pool: list[ReportRow], *, size: int, seed: str, all_exceptions: bool
) -> tuple[list[str], list[str]]:
    """(sampled refs in population order, refs added because they are exceptions)."""
    refs = [f"{r.source}:{r.key}" for r in pool]
    picked = set(random.Random(seed).sample(refs, min(size, len(refs))))
    added = []
    if all_exceptions:
        added = [
            ref
            for ref, r in zip(refs, pool, strict=True)
            if exception_kinds(r) and ref not in picked
        ]
        picked |= set(added)
    return [ref for ref in refs if ref in picked], added


def population_csv(pool: list[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(POPULATION_COLUMNS)
    for r in pool:
        flat = r.flat()
        writer.writerow(
            [
                *(flat[name] for name in POPULATION_COLUMNS[:-1]),
                "; ".join(exception_kinds(r)),
            ]
        )
    return out.getvalue()


def write_sample(
    settings: Settings,
    store: Store,
    *,
    size: int,
    seed: str,
    since: datetime,
    until: datetime,
    out: Path,
    all_exceptions: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Write the pack to `out`; returns the sampled refs ("source:key")."""
    key = settings.reports.pack_key
    if key is None:
        raise ConfigError("reports.pack_key: set a key (16+ characters) to sign sample packs")
    rows, summary = build_report(settings, store, since=since, until=until, clock=clock)
    pool = population(rows, since=since, until=until)
    chosen, added = draw(pool, size=size, seed=seed, all_exceptions=all_exceptions)
    by_ref = {f"{r.source}:{r.key}": r for r in pool}
    out.mkdir(parents=True, exist_ok=True)
    (out / "population.csv").write_text(population_csv(pool), encoding="utf-8")
    index = []
    for ref in chosen:
        row = by_ref[ref]
        folder = out / _safe(row.source) / _safe(row.key)
        deployed = [d for d in summary.deployments if d.change == ref]
        files = _evidence(store, row, folder, zone=summary.time_zone, deployments=deployed)
        index.append(
            {
                "change": ref,
                "title": row.title,
                "url": row.url,
                "exceptions": exception_kinds(row),
                "added_as_exception": ref in added,
                "approved_before_implemented": row.approved_before_implemented,
                "separation_of_duties": row.separation_of_duties,
                "files": {
                    str((folder / name).relative_to(out)): {
                        "points": CC81[name][0],
                        "why": CC81[name][1],
                    }
                    for name in sorted(files)
                },
            }
        )
    _write_json(
        out / "sample.json", _sample_facts(summary, pool, chosen, added, seed=seed, size=size)
    )
    _write_json(out / "index.json", index)
    (out / "index.md").write_text(_index_md(index, summary, seed=seed, pool=len(pool)))
    sign_pack(out, key.get_secret_value())
    return chosen


def _sample_facts(
    summary: Summary,
    pool: list[ReportRow],
    chosen: list[str],
    added: list[str],
    *,
    seed: str,
    size: int,
) -> dict[str, Any]:
    context = summary.context
    return {
        "seed": seed,
        "size": size,
        "method": "random.Random(seed).sample(refs, size) over population.csv's order "
        "(source:key), Python's Mersenne Twister seeded with the seed text",
        "population": len(pool),
        "population_rule": "implementation started in the period, or closed with its end in it",
        "period": {
            "first_day": summary.first_day.isoformat(),
            "last_day": summary.last_day.isoformat(),
            "time_zone": summary.time_zone,
            "since": summary.since.isoformat(),
            "until": summary.until.isoformat(),
        },
        "policy_digest": context.policy.digest if context else None,
        "audit_chain_head": (
            {"seq": context.audit.links, "hash": context.audit.head_hash} if context else None
        ),
        "audit_chain_intact": context.audit.intact if context else None,
        "sampled": chosen,
        "added_as_exceptions": added,
    }


def _evidence(
    store: Store,
    row: ReportRow,
    folder: Path,
    *,
    zone: str,
    deployments: Sequence[DeploymentLine] = (),
) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    stored = store.stored_changes(row.source, [row.key])[row.key]
    bases = store.approval_bases(row.source, [row.key]).get(row.key, [])
    audit = store.audit_for(row.source, row.key)
    actions = [
        {
            "action": e.action,
            "state": e.state,
            "planned_at": e.created_at,
            "applied_at": e.applied_at,
            "remote_ref": e.remote_ref,
            "error": e.error,
        }
        for e in store.ledger_for(source=row.source, ticket_key=row.key)
    ]
    change = json.loads(stored.data)
    files: dict[str, Any] = {
        "change.json": change,
        "approvals.json": {
            "approvers": [asdict(a) for a in row.approvers],
            "approved_at": row.approved_at,
            "board_reviewed_at": row.board_reviewed_at,
            "approval_bases": [
                {"approvals": b.approvals_digest, "recorded_at": b.recorded_at} for b in bases
            ],
        },
        "findings.json": {
            "open": json.loads(stored.findings or "[]"),
            "history": [
                {"seq": a.seq, "at": a.at, "event": event, **finding}
                for a in audit
                for event, finding in finding_links(a.event, a.detail)
            ],
        },
        "actions.json": actions,
        "report-row.json": {**row._asdict(), "approvers": [asdict(a) for a in row.approvers]},
    }
    snapshot = next((b.snapshot for b in reversed(bases) if b.snapshot), None)
    if snapshot:
        files["change-at-approval.json"] = json.loads(snapshot)
    for name, data in files.items():
        _write_json(folder / name, data)
    with (folder / "audit.jsonl").open("w", encoding="utf-8") as fh:
        for a in audit:
            fh.write(_dumps(asdict(a), indent=None) + "\n")
    planned = (_time(change.get("planned_start")), _time(change.get("planned_end")))
    sheet = evidence_sheet(
        row, planned=planned, actions=actions, audit=audit, zone=zone, deployments=deployments
    )
    (folder / "evidence.html").write_text(sheet, encoding="utf-8")
    return [*files, "audit.jsonl", "evidence.html"]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _index_md(index: list[dict[str, Any]], summary: Summary, *, seed: str, pool: int) -> str:
    lines = [
        "# Auditor sample pack",
        "",
        f"Period {summary.first_day} to {summary.last_day} ({summary.time_zone}). "
        f"{len(index)} change(s) drawn with seed {seed!r} from the {pool} implemented or closed "
        "in the period (population.csv). Check the files and the signature with "
        "`change-connector report verify-pack DIR`; `sha256sum -c MANIFEST.sha256` checks the "
        "digests alone.",
        "",
        "## Pack files",
        "",
    ]
    lines += [f"- `{name}`: {why}" for name, why in PACK_FILES.items()]
    lines += ["", "## Sampled changes (SOC 2 CC8.1)", ""]
    for item in index:
        extra = " (added as an exception)" if item["added_as_exception"] else ""
        exceptions = ", ".join(item["exceptions"]) or "none"
        lines += [
            f"### {md_cell(item['change'])}{extra}",
            "",
            f"Approved before implemented: {item['approved_before_implemented']}; separation of "
            f"duties: {item['separation_of_duties']}; exceptions: {exceptions}.",
            "",
            "| file | CC8.1 point of focus | why |",
            "|---|---|---|",
        ]
        for name, what in item["files"].items():
            lines.append(f"| `{name}` | {'; '.join(what['points'])} | {what['why']} |")
        lines.append("")
    return "\n".join(lines)


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

"""The report's context and delivery metrics as Markdown lines: the Markdown report prints them,
and the CSV report carries them as `#` comment lines above its header, so every format says what
population it covers, under which policy, from which sources, and how the change went.

Pure: text from the summary's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connector.reports.context import ReportContext, stamp
from connector.reports.deployments import DeploymentLine
from connector.reports.metrics import TOTAL, Cell, Metrics
from connector.reports.summary import Summary


def heading(s: Summary) -> list[str]:
    zone = s.time_zone
    return [
        f"Period {s.first_day} to {s.last_day} ({zone}): from {s.first_day} 00:00 to the end of "
        f"{s.last_day}, {zone}.",
        f"Generated {stamp(s.generated_at, zone)} by "
        f"{s.context.tool_version if s.context else 'change-connector'}; "
        f"{s.total} change(s). Times are in {zone} unless they carry their own offset.",
    ]


def context_lines(c: ReportContext, zone: str) -> list[str]:
    p = c.population
    lines = ["## Population", ""]
    lines.append(f"- In scope (reported): {p.in_scope}")
    lines.append(f"- Stored: {p.stored} (deleted in the ticket system: {p.deleted})")
    skipped = sum(p.skipped.values())
    lines.append(f"- Skipped (not readable as changes): {skipped}")
    lines += [f"  - {md_cell(reason)}: {n}" for reason, n in p.skipped.items()]
    out = sum(p.out_of_scope.values())
    lines.append(f"- Out of scope by rule: {out}")
    lines += [f"  - {rule}: {n}" for rule, n in p.out_of_scope.items()]
    given = "; ".join(f"--{k} {', '.join(v)}" for k, v in c.filters.items() if v)
    if given:
        lines.append(f"- Filters: {given}")
    pol = c.policy
    lines += ["", "## Policy in force", "", f"- Digest: `{pol.digest}`"]
    lines.append(f"- Time zone: {pol.time_zone}")
    for cls, needs in pol.required.items():
        lines.append(f"- Required for {cls}: {', '.join(needs) or 'nothing'}")
    a = pol.approvals
    lines.append(
        f"- Approver groups: CAB {', '.join(a['cab_groups']) or '-'}; security "
        f"{', '.join(a['security_groups']) or '-'}; emergency review within "
        f"{a['emergency_review_days']:g} days"
    )
    for f in pol.freezes:
        lines.append(
            f"- Freeze {md_cell(f['name'])}: {f['start']} to {f['end']} "
            f"({f['recurrence']}; {md_cell(f['systems'])})"
        )
    if not pol.freezes:
        lines.append("- Freezes: none")
    lines.append(f"- Rules switched off: {', '.join(pol.disabled_rules) or 'none'}")
    lines += ["", "## Sources", ""]
    for src in c.sources:
        synced = stamp(src.last_sync, zone) or "never"
        lines.append(
            f"- {md_cell(src.name)} ({src.kind}, {src.url}): last successful sync {synced}"
        )
        lines.append(f"  - scope: {md_cell(src.scope)}")
    au = c.audit
    verdict = "intact" if au.intact else "BROKEN: " + "; ".join(au.problems)
    lines += [
        "",
        "## Audit chain",
        "",
        f"- Verified when the report was made: {verdict}",
        f"- Head: link {au.links}, hash `{au.head_hash or '-'}`",
        f"- Keyed links (audit HMAC key): {au.keyed} of {au.links}; anchors compared: {au.anchors}",
    ]
    return lines


METRIC_HEAD = (
    "| {group} | week | implemented | failure rate | time to restore | emergency share | "
    "request → approval | approval → implementation | success score |"
)


def metrics_lines(m: Metrics) -> list[str]:
    weights = ", ".join(f"{k} {v:+g}" for k, v in m.weights.items())
    lines = [
        "## Delivery metrics",
        "",
        "Changes by the week their implementation started. Failure rate: failed or rolled back "
        "/ implemented; time to restore: median hours from the start of a failed change to its "
        "end where a rollback or incident is linked; lead times: median hours. Success score: "
        f"mean points per recorded outcome ({weights}).",
    ]
    for title, table in (
        ("service", m.by_service),
        ("system", m.by_system),
        ("source", m.by_source),
    ):
        lines += ["", f"### Per {title}", "", METRIC_HEAD.format(group=title)]
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        lines += [
            _metric_row(name, week, cell)
            for name, weeks in table.items()
            for week, cell in weeks.items()
        ]
        if not table:
            lines.append("| no implemented changes | | | | | | | | |")
    return lines


DEPLOYMENT_HEAD = (
    "| started | service | environment | commit | change | by | outcome | gate | why |",
    "|---|---|---|---|---|---|---|---|---|",
)


def deployments_lines(lines: Sequence[DeploymentLine], zone: str) -> list[str]:
    """The "Deployments" section: each deployment heard of in the period, its change, outcome
    and what the gate said when it started."""
    unauthorized = sum(1 for line in lines if line.unauthorized)
    out = [
        "## Deployments",
        "",
        f"{len(lines)} deployment(s) in the period; unauthorized: {unauthorized}.",
        "",
        *DEPLOYMENT_HEAD,
    ]
    for line in lines:
        gate = f"**{line.verdict}, unauthorized**" if line.unauthorized else line.verdict
        cells = [
            stamp(line.started_at, zone),
            md_cell(line.service),
            md_cell(line.environment),
            md_cell(line.commit[:12]) or "-",
            md_cell(line.change) or "none",
            md_cell(line.triggered_by) or "-",
            line.outcome,
            gate,
            md_cell(" ".join(line.reasons)) or "-",
        ]
        out.append("| " + " | ".join(cells) + " |")
    if not lines:
        out.append("| no deployments recorded | | | | | | | | |")
    return out


def _metric_row(name: str, week: str, c: Cell) -> str:
    label = f"**{md_cell(name)}**" if week == TOTAL else md_cell(name)
    return (
        f"| {label} | {week} | {c.implemented} | {_pct(c.change_failure_rate)} | "
        f"{_h(c.median_hours_to_restore)} | {_pct(c.emergency_share)} | "
        f"{_h(c.median_hours_request_to_approval)} | "
        f"{_h(c.median_hours_approval_to_implementation)} | {_n(c.success_score)} |"
    )


def _pct(v: float | None) -> str:
    return "n.a." if v is None else f"{v * 100:.1f}%"


def _h(v: float | None) -> str:
    return "n.a." if v is None else f"{v:g} h"


def _n(v: float | None) -> str:
    return "n.a." if v is None else f"{v:g}"


def counts(values: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "-"


_MD_ESCAPES = str.maketrans({ch: "\\" + ch for ch in "\\`*_{}[]<>()#+!|"})


def md_cell(text: str) -> str:
    """Ticket text inside a Markdown line or table cell: markup characters escaped, one line."""
    return " ".join(text.split()).translate(_MD_ESCAPES)

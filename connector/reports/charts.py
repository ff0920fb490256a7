"""The report's charts: pure functions returning inline SVG markup (no scripts, nothing
fetched); every text placed in them is escaped here.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from connector.reports.metrics import TOTAL, Metrics
from connector.reports.model import ReportRow

EMPTY = "no changes in this period"
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f")
TYPE_COLOURS = {"standard": "#59a14f", "normal": "#4e79a7", "emergency": "#e15759"}
# Request-to-approval lead time histogram: label, upper bound in hours (exclusive).
BUCKETS = (
    ("< 1 d", 24.0),
    ("1-3 d", 72.0),
    ("3-7 d", 168.0),
    ("1-2 w", 336.0),
    ("> 2 w", math.inf),
)
CHART_TITLES = ("Changes per week by type", "Lead time, request to approval", "Exceptions")
DELIVERY_TITLES = ("Implemented per week", "Change failure rate per service")


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    t = escape(title)
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{t}"><title>{t}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, cls: str = "", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    css = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{css}{extra}>{escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def _rect(x: float, y: float, w: float, h: float, tip: str = "", **attrs: str) -> str:
    extra = "".join(f' {k}="{escape(v)}"' for k, v in attrs.items())
    box = f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"{extra}'
    return f"{box}><title>{escape(tip)}</title></rect>" if tip else f"{box}/>"


def empty_chart(title: str, message: str = EMPTY) -> Markup:
    return _svg(640, 120, title, [_text(320, 64, message, "empty", text_anchor="middle")])


def _nice_step(top: int) -> int:
    for magnitude in (1, 10, 100, 1000, 10000, 100000):
        for step in (1, 2, 5):
            if top / (step * magnitude) <= 5:
                return step * magnitude
    return max(1, math.ceil(top / 5))


def stacked_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],  # name, colour, one count per category
    *,
    x_title: str,
    legend: bool = True,
) -> Markup:
    """Vertical bars, one per category, stacked by series; y axis in counts."""
    width, height = 640, 280
    left, right, top, bottom = 44, (150 if legend else 16), 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(categories))]
    step = _nice_step(max(totals, default=0) or 1)
    y_max = step * max(1, math.ceil(max(totals, default=0) / step))
    body: list[str] = []
    for tick in range(0, y_max + 1, step):
        y = top + plot_h - tick / y_max * plot_h
        body.append(_line(left, y, left + plot_w, y, "gridline"))
        body.append(_text(left - 6, y + 4, str(tick), "tick", text_anchor="end"))
    slot = plot_w / max(1, len(categories))
    bar = min(48.0, slot * 0.7)
    label_every = max(1, math.ceil(len(categories) * 72 / plot_w))
    for i, category in enumerate(categories):
        x, base = left + i * slot + (slot - bar) / 2, float(top + plot_h)
        for name, colour, counts in series:
            if counts[i] <= 0:
                continue
            h = counts[i] / y_max * plot_h
            base -= h
            body.append(_rect(x, base, bar, h, f"{category}, {name}: {counts[i]}", fill=colour))
        if i % label_every == 0:
            body.append(
                _text(x + bar / 2, top + plot_h + 16, category, "tick", text_anchor="middle")
            )
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h, "axis"))
    body.append(_text(left + plot_w / 2, height - 12, x_title, "label", text_anchor="middle"))
    mid = top + plot_h / 2
    rotate = f"rotate(-90 12 {mid:.1f})"
    body.append(_text(12, mid, "changes", "label", text_anchor="middle", transform=rotate))
    if legend:
        for j, (name, colour, _) in enumerate(series):
            y = top + 4 + j * 20
            body.append(_rect(width - right + 16, y, 12, 12, fill=colour))
            body.append(_text(width - right + 34, y + 10, name, "legend"))
    return _svg(width, height, title, body)


def weekly_chart(weekly: Mapping[str, Mapping[str, int]]) -> Markup:
    """Changes per week (the week's Monday), stacked by change type."""
    title = CHART_TITLES[0]
    if not any(sum(c.values()) for c in weekly.values()):
        return empty_chart(title)
    weeks = sorted(weekly)
    totals: dict[str, int] = {}
    for counts in weekly.values():
        for kind, n in counts.items():
            totals[kind] = totals.get(kind, 0) + n
    kinds = sorted(totals, key=lambda k: (-totals[k], k))
    spare = [c for c in PALETTE if c not in TYPE_COLOURS.values()]
    others = iter(spare * len(kinds))
    series = [
        (kind, TYPE_COLOURS.get(kind) or next(others), [weekly[w].get(kind, 0) for w in weeks])
        for kind in kinds
    ]
    return stacked_chart(title, weeks, series, x_title="week starting")


def lead_time_buckets(rows: Sequence[ReportRow]) -> dict[str, int]:
    """How many rows' request-to-approval lead times fall in each bucket (rows without none)."""
    uppers = [upper for _, upper in BUCKETS]
    counts = [0] * len(BUCKETS)
    for r in rows:
        if (hours := r.hours_request_to_approval) is not None:
            counts[bisect.bisect_right(uppers, hours)] += 1
    return {label: n for (label, _), n in zip(BUCKETS, counts, strict=True)}


def lead_time_chart(rows: Sequence[ReportRow]) -> Markup:
    title = CHART_TITLES[1]
    if not rows:
        return empty_chart(title)
    counts = lead_time_buckets(rows)
    if not any(counts.values()):
        return empty_chart(title, "no approved changes in this period")
    series = [("changes", PALETTE[0], list(counts.values()))]
    return stacked_chart(title, list(counts), series, x_title="request to approval", legend=False)


def exceptions_chart(exceptions: Mapping[str, Sequence[str]]) -> Markup:
    """One horizontal bar per exception kind, with its count."""
    title = CHART_TITLES[2]
    if not exceptions:
        return empty_chart(title)
    width, left, row_h, top = 640, 190, 26, 8
    plot_w = width - left - 60
    most = max(len(refs) for refs in exceptions.values()) or 1
    body: list[str] = []
    for i, (kind, refs) in enumerate(exceptions.items()):
        y, n = top + i * row_h, len(refs)
        body.append(_text(left - 8, y + 15, kind, "tick", text_anchor="end"))
        w = n / most * plot_w
        if n:
            body.append(_rect(left, y + 3, w, row_h - 8, f"{kind}: {n}", **{"class": "exception"}))
        body.append(_text(left + w + 6, y + 15, str(n), "count" if n else "count zero"))
    height = top * 2 + row_h * len(exceptions)
    return _svg(width, height, title, body)


def delivery_chart(metrics: Metrics) -> Markup:
    """Changes implemented per week (the week their implementation started), stacked by
    whether they failed or were rolled back."""
    title = DELIVERY_TITLES[0]
    weeks: dict[str, tuple[int, int]] = {}
    for cells in metrics.by_source.values():
        for week, cell in cells.items():
            if week != TOTAL:
                done, failed = weeks.get(week, (0, 0))
                weeks[week] = (done + cell.implemented, failed + cell.failed)
    if not weeks:
        return empty_chart(title, "no changes implemented in this period")
    order = sorted(weeks)
    series = [
        ("not failed", "#59a14f", [weeks[w][0] - weeks[w][1] for w in order]),
        ("failed or rolled back", "#e15759", [weeks[w][1] for w in order]),
    ]
    return stacked_chart(title, order, series, x_title="week starting")


def failure_rate_chart(metrics: Metrics, *, limit: int = 12) -> Markup:
    """One horizontal bar per service (the `limit` with most changes): its change failure
    rate over the period."""
    title = DELIVERY_TITLES[1]
    totals = [(name, cells[TOTAL]) for name, cells in metrics.by_service.items()]
    totals.sort(key=lambda item: (-item[1].implemented, item[0]))
    items = [
        (name, cell.change_failure_rate or 0.0, f"{(cell.change_failure_rate or 0) * 100:.0f}%")
        for name, cell in totals[:limit]
    ]
    if not items:
        return empty_chart(title, "no changes implemented in this period")
    return hbar_chart(title, items, top=1.0)


def hbar_chart(title: str, items: Sequence[tuple[str, float, str]], *, top: float) -> Markup:
    """One horizontal bar per (label, value, text), scaled to `top`."""
    width, left, row_h, pad = 640, 190, 26, 8
    plot_w = width - left - 60
    body: list[str] = []
    for i, (label, value, text) in enumerate(items):
        y, w = pad + i * row_h, (value / top if top else 0) * plot_w
        body.append(_text(left - 8, y + 15, label[:28], "tick", text_anchor="end"))
        if w > 0:
            body.append(
                _rect(left, y + 3, w, row_h - 8, f"{label}: {text}", **{"class": "exception"})
            )
        body.append(_text(left + w + 6, y + 15, text, "count"))
    return _svg(width, pad * 2 + row_h * len(items), title, body)

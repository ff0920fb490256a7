"""The HTML report's change rows as they were written before the repeating parts were cached
and the times formatted inline (`connector.reports.table.Rows`): the oracle the tests compare
the fast rows with. Not used by the product; when the rows change on purpose, change both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connector.core.policy.config import zone_info
from connector.reports.model import ReportRow
from connector.reports.summary import exception_messages, may_raise
from connector.reports.table import (
    _ORIGIN,
    _answer,
    _cell,
    _dd,
    _safe_origin,
    _text,
    filters,
    html_text,
)


class Rows:
    """Renders rows for one report: its filters and time zone."""

    def __init__(self, rows: Sequence[ReportRow], *, zone: str, expanded: bool = False) -> None:
        self.filters = filters(rows)
        self._zone = None if zone == "UTC" else zone_info(zone)
        self._open = " open" if expanded else ""
        self._classes: dict[tuple[str, str, str], str] = {}

    def html(self, i: int, r: ReportRow) -> str:
        slot = (r.source, r.change_type, r.status)
        classes = self._classes.get(slot)
        if classes is None:
            classes = self._classes[slot] = self.filters.of(r)
        raised = exception_messages(r) if may_raise(r) else []
        if raised:
            classes += " x"
            kinds = html_text(", ".join(dict.fromkeys(kind for kind, _ in raised)))
        else:
            kinds = ""
        return (
            f'<details id="change-{i}" class="change {classes}"{self._open}><summary>'
            f"{_key(r.key, r.url)}{_cell('src', r.source)}"
            f'<span class="c title">{html_text(r.title)}</span>'
            f"{_cell('type', f'{r.change_type} / {r.change_class}')}{_cell('status', r.status)}"
            f"{_answer(r.approved_before_implemented)}{_answer(r.separation_of_duties)}"
            f'<span class="c exc">{kinds}</span></summary>'
            f'<div class="evidence">{self._evidence(r, raised)}</div></details>'
        )

    def _evidence(self, r: ReportRow, raised: list[tuple[str, str]]) -> str:
        t = self._time
        exceptions = "".join(
            f'<li class="exception"><b>{html_text(k)}</b>: {html_text(m)}</li>' for k, m in raised
        )
        said = {m for _, m in raised}
        findings = "".join(
            f"<li>{html_text(m)}</li>"
            for m in r.finding_messages
            if m.partition(": ")[2] not in said
        )
        approvers = "".join(
            f"<li>{html_text(a.name)}{f' ({html_text(a.group)})' if a.group else ''} "
            f"{a.decision} {t(a.decided_at)}</li>"
            for a in r.approvers
        )
        link = _link(r.url)
        return (
            f'<div class="ev-block"><h4>Exceptions and findings</h4><ul>'
            f"{exceptions}{findings or '<li>no open findings</li>'}</ul></div>"
            f'<div class="ev-block"><h4>Approvals</h4><ul>{approvers or "<li>none</li>"}</ul>'
            f"<dl>{_at('approved', t(r.approved_at))}{_at('board review', t(r.board_reviewed_at))}"
            f"{_dd('required fields complete at approval', r.required_complete_at_approval)}"
            f"{_dd('requester', r.requester)}{_dd('implementer', r.implementer)}</dl></div>"
            f'<div class="ev-block"><h4>Checks</h4><dl>{_dd("risk", r.risk)}'
            f"{_dd('security impact', r.security_impact or 'not assessed')}"
            f"{_dd('infosec categories', ', '.join(r.infosec_categories))}"
            f"{_dd('rollback plan', r.rollback_plan)}"
            f"{_text('freezes', '; '.join(r.freeze_findings))}"
            f"{_text('conflicts with', ', '.join(r.conflicts_with))}"
            f"{_dd('emergency review', r.emergency_review)}{_dd('notice met', r.notice_met)}"
            f"{_dd('release notes posted', r.release_notes_posted)}</dl></div>"
            f'<div class="ev-block"><h4>Implementation</h4><dl>{_at("created", t(r.created))}'
            f"{_at('implemented', t(r.implemented_at))}{_at('ended', t(r.implemented_end))}"
            f"{_dd('outcome', r.outcome)}{_text('incidents', ', '.join(r.incidents))}"
            f"{_dd('systems', ', '.join(r.affected_systems))}"
            f"{_dd('services', ', '.join(r.affected_services))}"
            f"{_at('request to approval', _h(r.hours_request_to_approval))}"
            f"{_at('approval to implementation', _h(r.hours_approval_to_implementation))}"
            f"</dl>{link}</div>"
        )

    def _time(self, at: datetime | None) -> str:
        """ISO 8601 to the minute with the zone's offset."""
        if at is None:
            return ""
        return (at if self._zone is None else at.astimezone(self._zone)).isoformat("T", "minutes")


def _at(name: str, value: str) -> str:
    """A time or a number: nothing to escape."""
    return f"<dt>{name}</dt><dd>{value}</dd>" if value else ""


def _h(hours: float | None) -> str:
    return "" if hours is None else f"{hours:g} h"


def _key(key: str, url: str) -> str:
    origin = _ORIGIN.match(url.strip())
    if origin is None or not _safe_origin(origin.group()):
        return f'<span class="c key">{html_text(key)}</span>'
    return (
        f'<span class="c key"><a href="{html_text(url.strip())}" rel="noopener noreferrer">'
        f"{html_text(key)}</a></span>"
    )


def _link(url: str) -> str:
    origin = _ORIGIN.match(url.strip())
    if origin is None or not _safe_origin(origin.group()):
        return ""
    safe = html_text(url.strip())
    return f'<p class="link"><a href="{safe}" rel="noopener noreferrer">{safe}</a></p>'

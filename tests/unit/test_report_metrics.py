"""Delivery metrics per service, system and source by week, checked against numbers worked out
by hand from a small planted history (T0 is Monday 2026-11-02 09:00 UTC):

| change | services | systems | started | class | outcome | req->appr | appr->impl | restore |
|---|---|---|---|---|---|---|---|---|
| A1 | checkout | web | T0 | minor | successful | 10 | 5 | - |
| A2 | checkout | web | T0+1d | minor | failed, incident linked | 20 | 1 | 3 |
| A3 | checkout | db | T0+2d | emergency | rolled-back | 1 | 0.5 | 1 |
| B1 | payments | db | T0+1d | minor | successful | 30 | 2 | - |
| A4 | checkout | web | T0+7d | minor | successful | 4 | 4 | - |
| B2 | payments | - | T0+8d | minor | not recorded | - | - | - |
| B3 | payments, checkout | web | T0+9d | minor | failed, nothing linked | 6 | 2 | - |
| C1 | checkout | web | never | minor | - | - | - | - |
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from test_report_html import DAY, T0, make_row

from connector.reports.metrics import NONE, TOTAL, delivery_metrics
from connector.reports.render import render
from connector.reports.summary import summarize

HOUR = timedelta(hours=1)
W1, W2 = "2026-11-02", "2026-11-09"


def history() -> list:
    def change(key: str, services: tuple[str, ...], systems: tuple[str, ...], start, **kw):
        return make_row(
            key=key,
            affected_services=services,
            affected_systems=systems,
            implemented_at=start,
            **kw,
        )

    return [
        change("A1", ("checkout",), ("web",), T0, outcome="successful",
               hours_request_to_approval=10.0, hours_approval_to_implementation=5.0),
        change("A2", ("checkout",), ("web",), T0 + DAY, outcome="failed",
               incidents=("INC0001",), implemented_end=T0 + DAY + 3 * HOUR,
               hours_request_to_approval=20.0, hours_approval_to_implementation=1.0,
               hours_to_restore=3.0),
        change("A3", ("checkout",), ("db",), T0 + 2 * DAY, outcome="rolled-back",
               change_type="emergency", change_class="emergency",
               hours_request_to_approval=1.0, hours_approval_to_implementation=0.5,
               hours_to_restore=1.0),
        change("B1", ("payments",), ("db",), T0 + DAY, outcome="successful",
               hours_request_to_approval=30.0, hours_approval_to_implementation=2.0),
        change("A4", ("checkout",), ("web",), T0 + 7 * DAY, outcome="successful",
               hours_request_to_approval=4.0, hours_approval_to_implementation=4.0),
        change("B2", ("payments",), (), T0 + 8 * DAY, outcome="", status="implementing",
               hours_request_to_approval=None, hours_approval_to_implementation=None),
        change("B3", ("payments", "checkout"), ("web",), T0 + 9 * DAY, outcome="failed",
               hours_request_to_approval=6.0, hours_approval_to_implementation=2.0),
        change("C1", ("checkout",), ("web",), None, outcome="", status="approved"),
    ]  # fmt: skip


def test_per_service_by_week_as_worked_out_by_hand() -> None:
    m = delivery_metrics(history())
    checkout, payments = m.by_service["checkout"], m.by_service["payments"]
    assert list(checkout) == [W1, W2, TOTAL] and list(payments) == [W1, W2, TOTAL]
    c = checkout[W1]  # A1, A2, A3
    assert (c.implemented, c.failed, c.emergency) == (3, 2, 1)
    assert c.change_failure_rate == 0.667 and c.emergency_share == 0.333
    assert c.median_hours_request_to_approval == 10.0  # of 10, 20, 1
    assert c.median_hours_approval_to_implementation == 1.0  # of 5, 1, 0.5
    assert c.median_hours_to_restore == 2.0  # of 3 and 1
    assert c.success_score == round((3 - 5 - 5) / 3, 2) == -2.33
    c = checkout[W2]  # A4, B3 (no incident, no rollback: no time to restore)
    assert (c.implemented, c.failed, c.change_failure_rate) == (2, 1, 0.5)
    assert c.median_hours_to_restore is None and c.success_score == -1.0
    assert c.median_hours_request_to_approval == 5.0  # of 4 and 6
    c = checkout[TOTAL]  # A1, A2, A3, A4, B3
    assert (c.implemented, c.failed, c.change_failure_rate, c.emergency_share) == (5, 3, 0.6, 0.2)
    assert c.success_score == -1.8 and c.median_hours_to_restore == 2.0
    p = payments[W2]  # B2 (no outcome recorded: not scored), B3
    assert (p.implemented, p.failed, p.success_score) == (2, 1, -5.0)
    assert p.median_hours_request_to_approval == 6.0
    p = payments[TOTAL]  # B1, B2, B3
    assert (p.implemented, p.failed, p.change_failure_rate, p.success_score) == (3, 1, 0.333, -1.0)
    assert p.emergency_share == 0.0


def test_per_system_and_source() -> None:
    m = delivery_metrics(history())
    assert set(m.by_system) == {"web", "db", NONE}
    assert m.by_system["web"][W1].implemented == 2  # A1, A2
    assert m.by_system["web"][W2].implemented == 2  # A4, B3
    assert m.by_system["db"][TOTAL].implemented == 2  # A3, B1
    assert m.by_system[NONE][TOTAL].implemented == 1  # B2
    total = m.by_source["jira-prod"][TOTAL]
    assert (total.implemented, total.failed, total.emergency) == (7, 3, 1)


def test_the_score_formula_is_configurable() -> None:
    m = delivery_metrics(history(), weights={"successful": 1.0, "failed": -1.0})
    # Week 1 of checkout: A1 +1, A2 -1; a rollback scores nothing under these weights.
    assert m.by_service["checkout"][W1].success_score == 0.0
    assert m.weights == {"successful": 1.0, "failed": -1.0}


def test_weeks_follow_the_report_zone() -> None:
    rows = [make_row(key="X", implemented_at=T0 - 10 * HOUR)]  # Sunday 23:00 UTC
    assert list(delivery_metrics(rows).by_source["jira-prod"]) == ["2026-10-26", TOTAL]
    plus_two = delivery_metrics(rows, utc_offset=2 * HOUR)  # Monday 01:00 local
    assert list(plus_two.by_source["jira-prod"]) == [W1, TOTAL]


def test_every_format_carries_the_metrics() -> None:
    rows = history()
    summary = summarize(rows, since=T0, until=T0 + 28 * DAY, generated_at=T0 + 28 * DAY)
    summary = dataclasses.replace(summary, metrics=delivery_metrics(rows))
    md = render("md", rows, summary)
    assert "## Delivery metrics" in md and "| **checkout** | all weeks | 5 | 60.0% |" in md
    csv_text = render("csv", rows, summary)
    assert "# | **checkout** | all weeks | 5 | 60.0% |" in csv_text
    data = json.loads(render("json", rows, summary))
    assert data["summary"]["metrics"]["by_service"]["checkout"][TOTAL]["success_score"] == -1.8
    html = render("html", rows, summary)
    assert "Implemented per week" in html and "Change failure rate per service" in html
    section = html[html.index('<section class="metrics">') :]
    assert '<th scope="row">checkout</th><td>all weeks</td>' in section
    assert "60.0%" in section

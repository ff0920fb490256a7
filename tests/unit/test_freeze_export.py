"""The policy's freezes as Argo CD sync windows (AppProject YAML) and GitLab freeze periods,
read back as those tools read them: YAML / JSON parsed, fields checked, each cron valid and
firing at the freeze's start (and, for GitLab, its end), Argo CD's duration reaching the end."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml
from croniter import croniter
from pydantic import ValidationError

from connector.core.freeze_export import (
    ArgoCdExport,
    ArgoTargets,
    FreezeExportSettings,
    export,
    go_duration,
)
from connector.core.policy.calendar import occurrences
from connector.core.policy.config import Freeze, PolicySettings

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
YEAR_END = Freeze(
    name="Year-end", start=datetime(2026, 12, 18, tzinfo=UTC), end=datetime(2027, 1, 4, tzinfo=UTC)
)
OVER = Freeze(name="Summer", start=datetime(2026, 7, 1), end=datetime(2026, 7, 2))
WEEKEND = Freeze(
    name="Weekend",
    start=datetime(2026, 1, 2, 18),
    end=datetime(2026, 1, 5, 6),
    recurrence="weekly",
    systems=("payments-api", "ledger"),
)
MONTHLY = Freeze(
    name="Month close",
    start=datetime(2026, 1, 1, 0, 30),
    end=datetime(2026, 1, 2, 0, 30),
    recurrence="monthly",
    time_zone="America/New_York",
    systems=("ledger",),
)
POLICY = PolicySettings(time_zone="Europe/Berlin", freezes=(YEAR_END, OVER, WEEKEND, MONTHLY))
SETTINGS = FreezeExportSettings(
    argocd=ArgoCdExport(
        project="payments",
        systems={
            "payments-api": ArgoTargets(applications=("payments-*",), namespaces=("payments",)),
        },
    )
)
DURATION = re.compile(r"^(\d+)h(?:(\d+)m)?$")


def argocd(system: str | None = None) -> dict[str, Any]:
    result = export(POLICY, fmt="argocd", settings=SETTINGS, now=NOW, system=system)
    document: dict[str, Any] = yaml.safe_load(result.text)
    return document


def gitlab() -> list[dict[str, str]]:
    periods: list[dict[str, str]] = json.loads(
        export(POLICY, fmt="gitlab", settings=SETTINGS, now=NOW).text
    )
    return periods


def first_occurrence(freeze: Freeze) -> tuple[datetime, datetime]:
    zone = POLICY.zone(freeze.time_zone)
    return next(occurrences(freeze, zone, until=datetime(2100, 1, 1, tzinfo=UTC)))


def fires_at(schedule: str, zone: str, moment: datetime) -> bool:
    """Whether the cron schedule, in `zone`, fires exactly at `moment`."""
    local = moment.astimezone(ZoneInfo(zone))
    return croniter(schedule, local - timedelta(minutes=1)).get_next(datetime) == local


def test_argocd_export_is_an_appproject_of_deny_windows() -> None:
    doc = argocd()
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "AppProject"
    assert doc["metadata"] == {"name": "payments", "namespace": "argocd"}
    windows = doc["spec"]["syncWindows"]
    assert [w["description"].split(":")[1].split("(")[0].strip() for w in windows] == [
        "Year-end",
        "Weekend",
        "Month close",
    ]  # the one-off freeze that is over is left out
    for window, freeze in zip(windows, (YEAR_END, WEEKEND, MONTHLY), strict=True):
        assert window["kind"] == "deny" and window["manualSync"] is False
        assert croniter.is_valid(window["schedule"]) and len(window["schedule"].split()) == 5
        ZoneInfo(window["timeZone"])  # a zone Argo CD can load
        start, end = first_occurrence(freeze)
        assert fires_at(window["schedule"], window["timeZone"], start)
        match = DURATION.match(window["duration"])
        assert match, window["duration"]
        hours, minutes = int(match[1]), int(match[2] or 0)
        local = start.astimezone(ZoneInfo(window["timeZone"])).replace(tzinfo=None)
        wall_end = end.astimezone(ZoneInfo(window["timeZone"])).replace(tzinfo=None)
        assert local + timedelta(hours=hours, minutes=minutes) == wall_end
    year_end, weekend, monthly = windows
    assert year_end["schedule"] == "0 0 18 12 *" and year_end["duration"] == "408h"
    assert year_end["applications"] == ["*"] and year_end["timeZone"] == "UTC"
    assert weekend["schedule"] == "0 18 * * 5" and weekend["duration"] == "60h"
    assert weekend["timeZone"] == "Europe/Berlin"
    assert weekend["applications"] == ["payments-*", "ledger"]
    assert weekend["namespaces"] == ["payments"] and "clusters" not in weekend
    assert monthly["schedule"] == "30 0 1 * *" and monthly["timeZone"] == "America/New_York"
    assert monthly["applications"] == ["ledger"]


def test_argocd_export_for_one_system() -> None:
    windows = argocd(system="payments-api")["spec"]["syncWindows"]
    assert [w["schedule"] for w in windows] == ["0 0 18 12 *", "0 18 * * 5"]
    empty = yaml.safe_load(export(PolicySettings(), fmt="argocd", settings=SETTINGS, now=NOW).text)
    assert empty["spec"]["syncWindows"] == []


def test_gitlab_export_is_what_the_freeze_periods_api_takes() -> None:
    periods = gitlab()
    assert len(periods) == 3
    for period, freeze in zip(periods, (YEAR_END, WEEKEND, MONTHLY), strict=True):
        assert set(period) == {"freeze_start", "freeze_end", "cron_timezone"}
        for field in ("freeze_start", "freeze_end"):
            assert croniter.is_valid(period[field]) and len(period[field].split()) == 5
        start, end = first_occurrence(freeze)
        assert fires_at(period["freeze_start"], period["cron_timezone"], start)
        assert fires_at(period["freeze_end"], period["cron_timezone"], end)
    assert periods[1] == {
        "freeze_start": "0 18 * * 5",
        "freeze_end": "0 6 * * 1",
        "cron_timezone": "Europe/Berlin",
    }


def test_notes_name_what_cron_cannot_say() -> None:
    clamped = Freeze(
        name="Last day", start=datetime(2026, 1, 31), end=datetime(2026, 2, 1), recurrence="monthly"
    )
    policy = PolicySettings(freezes=(YEAR_END, clamped))
    notes = export(policy, fmt="gitlab", settings=SETTINGS, now=NOW).notes
    assert len(notes) == 2
    assert "'Year-end' is one-off" in notes[0] and "2027-01-04" in notes[0]
    assert "'Last day'" in notes[1] and "day 31" in notes[1]


def test_go_duration() -> None:
    assert go_duration(timedelta(hours=1)) == "1h"
    assert go_duration(timedelta(days=2, minutes=30)) == "48h30m"


@pytest.mark.parametrize(
    "config",
    [{"every_system": {}}, {"systems": {"ledger": {"applications": []}}}],
)
def test_targets_must_name_something(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="name applications, namespaces or clusters"):
        ArgoCdExport.model_validate(config)


# -- against the documents Argo CD and GitLab publish (tests/fixtures/real) --------------------

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def sync_window_schema() -> dict[str, Any]:
    """The AppProject CRD's schema of one sync window, closed to other keys: a structural schema
    would silently drop a misspelt one, which is what this catches."""
    crd = yaml.safe_load((REAL / "argocd" / "appproject-crd.yaml").read_text(encoding="utf-8"))
    [version] = crd["spec"]["versions"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schema: dict[str, Any] = spec["properties"]["syncWindows"]["items"]
    return {**schema, "additionalProperties": False}


def test_argocd_windows_validate_against_the_appproject_crd() -> None:
    schema = sync_window_schema()
    real = yaml.safe_load((REAL / "argocd" / "project.yaml").read_text(encoding="utf-8"))
    for window in real["spec"]["syncWindows"]:  # the check accepts Argo CD's own example
        jsonschema.validate(window, schema)
    doc = argocd()
    assert (doc["apiVersion"], doc["kind"]) == (real["apiVersion"], real["kind"])
    assert set(doc["metadata"]) <= set(real["metadata"])
    for window in doc["spec"]["syncWindows"]:
        jsonschema.validate(window, schema)
    misspelt = {**doc["spec"]["syncWindows"][0], "timezone": "UTC"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(misspelt, schema)


def test_gitlab_periods_are_what_the_documented_request_holds() -> None:
    request = json.loads((REAL / "gitlab" / "freeze_period_create_request.json").read_text())
    listed = json.loads((REAL / "gitlab" / "freeze_periods_list.json").read_text())
    for period in gitlab():
        assert set(period) == set(request) and set(period) <= set(listed[0])
        assert all(isinstance(v, str) for v in period.values())

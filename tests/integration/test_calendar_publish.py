"""The published change calendar and the freeze exports over a store the worker filled from the
sandbox (SQLite and PostgreSQL): `change-connector calendar` and `GET /calendar.ics` hold every
approved window and every freeze of the scenario, read back with `icalendar`; the bearer token is
required; `freeze export` writes Argo CD and GitLab documents; bad arguments are one line, exit 2.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
import requests
import yaml
from croniter import croniter
from pydantic import SecretStr
from store_fixtures import BACKENDS, database
from sync_helpers import cli, cli_process, running_sandbox, write_config

from connector.core.calendar_feed import change_uid, freeze_uid
from connector.core.model import Change
from connector.core.policy.config import Freeze, PolicySettings
from connector.core.windows import HOLDS_WINDOW
from connector.sandbox.scenario_model import FREEZE_END, FREEZE_START
from connector.serve.worker import Worker
from connector.settings import ServerSettings, Settings, load_settings
from connector.store import Store

COUNT = 30
RANDOM_SEED = 4
TOKEN = "calendar-token-0123456789"
PERIOD = ("--from", "2026-01-01", "--until", "2027-12-31")
POLICY = f"""
[policy]
time_zone = "Europe/Berlin"
[[policy.freezes]]
name = "Year-end freeze"
start = {FREEZE_START.isoformat()}
end = {FREEZE_END.isoformat()}
[[policy.freezes]]
name = "Weekend"
start = 2026-01-02T18:00:00
end = 2026-01-05T06:00:00
recurrence = "weekly"
systems = ["payments"]
[[policy.maintenance_windows]]
systems = ["payments"]
days = ["sat", "sun"]
start = 22:00:00
end = 04:00:00
[freeze_export.argocd]
project = "prod"
[freeze_export.argocd.systems.payments]
applications = ["payments-*"]
"""


@dataclass(frozen=True)
class Filled:
    settings: Settings
    store: Store
    config: Path
    approved: list[Change]  # every stored change that holds a planned window


@pytest.fixture(scope="module", params=BACKENDS)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    tmp = tmp_path_factory.mktemp("calendar")
    with (
        database(request.param, tmp) as url,
        running_sandbox(tmp, seed_count=COUNT, random_seed=RANDOM_SEED) as box,
    ):
        config = write_config(tmp / "config.toml", box.info, store_url=url)
        config.write_text(config.read_text() + POLICY)
        settings = load_settings(config)
        with closing(Store.open(url)) as store:
            with closing(Worker(settings, store, name="calendar-test").open()) as worker:
                worker.sync_once()
            changes = [Change.from_json(row.data) for row in store.iter_stored()]
            approved = [
                c for c in changes if c.status in HOLDS_WINDOW and c.planned_start and c.planned_end
            ]
            yield Filled(settings, store, config, approved)


def events(text: str) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(text)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def assert_holds_the_scenario(text: str, approved: list[Change]) -> None:
    found = events(text)
    for change in approved:
        event = found[change_uid(change)]
        assert event.decoded("DTSTART") == change.planned_start
        assert event.decoded("DTEND") == change.planned_end
        assert str(event["SUMMARY"]).startswith(change.key)
        assert str(event["URL"]) == change.url
    published = {uid for uid in found if uid.startswith("change-")}
    assert published == {change_uid(c) for c in approved}
    year_end = found[freeze_uid(load_freeze("Year-end freeze"))]
    assert (year_end.decoded("DTSTART"), year_end.decoded("DTEND")) == (FREEZE_START, FREEZE_END)
    weekend = found[freeze_uid(load_freeze("Weekend"))]
    assert weekend["RRULE"].to_ical() == b"FREQ=WEEKLY"
    assert any(uid.startswith("maintenance-") for uid in found)


def load_freeze(name: str) -> Freeze:
    """A freeze of POLICY as the config loader reads it."""
    policy = PolicySettings.model_validate(tomllib.loads(POLICY)["policy"])
    return next(f for f in policy.freezes if f.name == name)


def test_calendar_command_holds_every_approved_window_and_freeze(
    filled: Filled, tmp_path: Path
) -> None:
    assert {c.source.instance for c in filled.approved} == {"sandbox-jira", "sandbox-servicenow"}
    out = tmp_path / "calendar.ics"
    result = cli_process(
        "calendar", "--format", "ics", *PERIOD, "-o", str(out), "--config", str(filled.config)
    )
    assert result.returncode == 0, result.stderr
    text = out.read_bytes().decode()
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert_holds_the_scenario(text, filled.approved)

    only = cli(
        "calendar", *PERIOD, "--source", "sandbox-servicenow", "--config", str(filled.config)
    )
    assert only.returncode == 0, only.stderr
    uids = {u for u in events(only.stdout) if u.startswith("change-")}
    assert uids == {
        change_uid(c) for c in filled.approved if c.source.instance == "sandbox-servicenow"
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "pdf"), "--format: 'pdf' is not one of ics"),
        (("--from", "soon"), "--from: 'soon' is not a date"),
        (("--from", "2027-01-02", "--until", "2027-01-01"), "--until: 2027-01-01 is before"),
        (("--source", "nowhere"), "--source: no source named 'nowhere'"),
    ],
)
def test_calendar_bad_arguments_are_one_line_and_exit_2(
    filled: Filled, args: tuple[str, ...], message: str
) -> None:
    result = cli("calendar", *args, "--config", str(filled.config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_calendar_ics_needs_the_bearer_token(filled: Filled) -> None:
    from test_webhooks import serve_app, stop

    from connector.serve.metrics import Metrics
    from connector.serve.webhooks import build_app

    def served(**server: object) -> object:
        update = {"server": ServerSettings(insecure_unsigned_webhooks=True, **server)}
        return serve_app(
            build_app(filled.settings.model_copy(update=update), filled.store, Metrics())
        )

    def get(running: object, query: str = "", token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{running.url}/calendar.ics?{query}"  # type: ignore[attr-defined]
        return requests.get(url, headers=headers, timeout=60)

    period = "from=2026-01-01&until=2027-12-31"
    running = served(report_token=SecretStr(TOKEN))
    try:
        assert get(running, period).status_code == 401
        assert get(running, period, "wrong-token").status_code == 401
        response = get(running, period, TOKEN)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        assert_holds_the_scenario(response.text, filled.approved)
        etag = response.headers["etag"]
        again = requests.get(
            f"{running.url}/calendar.ics?{period}",  # type: ignore[attr-defined]
            headers={"Authorization": f"Bearer {TOKEN}", "If-None-Match": etag},
            timeout=60,
        )
        assert again.status_code == 304 and not again.content and again.headers["etag"] == etag
        jira = get(running, period + "&source=sandbox-jira&system=payments", TOKEN)
        assert jira.status_code == 200
        found = events(jira.text)
        assert {u for u in found if u.startswith("change-")} == {
            change_uid(c)
            for c in filled.approved
            if c.source.instance == "sandbox-jira" and "payments" in c.affected_systems
        }
        bad = get(running, "from=soon", TOKEN)
        assert bad.status_code == 400 and "from: 'soon' is not a date" in bad.json()["error"]
        unknown = get(running, "source=nowhere", TOKEN)
        assert unknown.status_code == 400 and "no source named" in unknown.json()["error"]
    finally:
        stop(running)
    running = served()
    try:
        assert get(running, period, TOKEN).status_code == 403
    finally:
        stop(running)


def test_freeze_export_argocd_and_gitlab(filled: Filled, tmp_path: Path) -> None:
    out = tmp_path / "project.yaml"
    c = ("--config", str(filled.config))
    argocd = cli_process("freeze", "export", "--format", "argocd", "-o", str(out), *c)
    assert argocd.returncode == 0, argocd.stderr
    doc = yaml.safe_load(out.read_text())
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "AppProject")
    assert doc["metadata"]["name"] == "prod"
    windows = doc["spec"]["syncWindows"]
    ongoing = datetime.now(UTC) < FREEZE_END  # a one-off freeze is exported until it is over
    year_end = ["0 0 18 12 *"] if ongoing else []
    assert [w["schedule"] for w in windows] == [*year_end, "0 18 * * 5"]
    assert ("'Year-end freeze' is one-off" in argocd.stderr) == ongoing
    assert windows[-1] == {
        "kind": "deny",
        "schedule": "0 18 * * 5",
        "duration": "60h",
        "timeZone": "Europe/Berlin",
        "manualSync": False,
        "description": "Change freeze: Weekend",
        "applications": ["payments-*"],
    }
    assert all(w["kind"] == "deny" and croniter.is_valid(w["schedule"]) for w in windows)

    gitlab = cli("freeze", "export", "--format", "gitlab", "--system", "billing", *c)
    assert gitlab.returncode == 0, gitlab.stderr
    periods = json.loads(gitlab.stdout)
    assert all(set(p) == {"freeze_start", "freeze_end", "cron_timezone"} for p in periods)
    # Billing is under the year-end freeze (every system), not under the payments weekend.
    assert [p["freeze_start"] for p in periods] == year_end
    assert all(p["cron_timezone"] == "UTC" and croniter.is_valid(p["freeze_end"]) for p in periods)

    bad = cli("freeze", "export", "--format", "jenkins", *c)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "--format: 'jenkins' is not one of argocd, gitlab" in bad.stderr
    missing = cli("freeze", "export", *c)
    assert missing.returncode == 2 and "--format" in missing.stderr

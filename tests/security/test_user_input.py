"""What a user types: ticket keys, days and numbers on the CLI and in the report API. Bad or
far-out values are one line naming the option (exit 2) or a 400, never a traceback or a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from store_fixtures import (  # noqa: F401
    fixture_open_store,
    fixture_store,
    fixture_store_url,
)

from connector.commands.cli import main
from connector.core.keys import is_key, key_problem
from connector.core.user_input import FIRST_DAY, LAST_DAY, BadInput, parse_day
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.settings import ServerSettings, Settings
from connector.store import Store
from connector.systems.paths import UnsafeValue, query_value, segment

TOKEN = "report-token-for-the-security-tests"


@pytest.mark.parametrize(
    ("system", "key"),
    [
        ("jira", "CHG-1"),
        ("jira", "OPS_2-10"),
        ("jira", "AB1-999999"),
        ("servicenow", "CHG0030001"),
        ("servicenow", "CTASK0010002"),
        ("servicenow", "0123456789abcdef0123456789abcdef"),
    ],
)
def test_valid_keys(system: str, key: str) -> None:
    assert is_key(system, key)
    assert key_problem(system, key) is None


@pytest.mark.parametrize(
    ("system", "key"),
    [
        ("jira", "CHG-1/../../myself"),
        ("jira", "CHG-1?x"),
        ("jira", "CHG-1#x"),
        ("jira", "chg-1"),
        ("jira", "CHG-01"),
        ("jira", "C-1"),
        ("jira", "1CHG-1"),
        ("jira", "CHG-1\n"),
        ("jira", "CHG0030001"),
        ("servicenow", "CHG-1"),
        ("servicenow", "CHG0030001^ORactive=true"),
        ("servicenow", "CHG0030001^NQactive=true"),
        ("servicenow", "0123456789ABCDEF0123456789ABCDEF"),
        ("servicenow", "0123456789abcdef0123456789abcde"),
        ("servicenow", "CHG" + "1" * 200),
        ("gitlab", "CHG-1"),
    ],
)
def test_refused_keys(system: str, key: str) -> None:
    assert not is_key(system, key)
    problem = key_problem(system, key)
    assert problem is not None and "\n" not in problem


def test_path_and_query_helpers() -> None:
    assert segment("CHG-1/../../myself") == "CHG-1%2F..%2F..%2Fmyself"
    assert segment("a?b#c d%") == "a%3Fb%23c%20d%25"
    assert segment("CHG-1") == "CHG-1"
    for bad in ("", ".", ".."):
        with pytest.raises(UnsafeValue):
            segment(bad)
    assert query_value("CHG0030001") == "CHG0030001"
    for bad in ("CHG1^ORactive=true", "CHG1^NQx", "a\nb", ""):
        with pytest.raises(UnsafeValue):
            query_value(bad)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9999-12-31", "out of range"),
        ("0001-01-01", "out of range"),
        ("1899-12-31", "out of range"),
        ("3000-01-01", "out of range"),
        ("2026-02-30", "is not a date"),
        ("tomorrow", "is not a date"),
        ("2026-01-01\x00", "is not a date"),
        ("9" * 5000, "is not a date"),
    ],
)
def test_days_out_of_range_or_unreadable(text: str, fragment: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_day(text, "--until")
    message = str(caught.value)
    assert message.startswith("--until: ") and fragment in message
    assert "\n" not in message and len(message) < 200


def test_days_in_range() -> None:
    assert parse_day(str(FIRST_DAY), "x") == FIRST_DAY
    assert parse_day(str(LAST_DAY), "x") == LAST_DAY
    assert str(parse_day("2026-12-06T23:30:00+02:00", "x")) == "2026-12-06"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "change-connector.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[sources.acme-jira]\n"
        'kind = "jira"\nurl = "https://jira.example"\nusername = "u"\ntoken = "t"\n'
        'mapping = "m.toml"\n',
        encoding="utf-8",
    )
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    err = capsys.readouterr().err
    return int(caught.value.code or 0), err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["cab", "decide", "CHG-1/../../myself"], "KEY: 'CHG-1/../../myself' is not a Jira"),
        (["cab", "decide", "CHG0030001"], "KEY: 'CHG0030001' is not a Jira issue key"),
        (["cab", "decide", "CHG-1", "--note", "a\udcffb"], "--note: has control characters"),
        (["cab", "decide", "CHG-1", "--note", "a\x1bb"], "--note: has control characters"),
        (["cab", "decide", "CHG-1", "--note", "x" * 10_001], "--note: longer than 10000"),
        (["cab", "agenda", "--for", "9999-12-31"], "--for: '9999-12-31' is out of range"),
        (["policy", "backtest", "--since", "0001-01-01"], "--since: '0001-01-01' is out of range"),
        (["report", "--since", "2026-01-01", "--until", "9999-12-31"], "--until: '9999-12-31'"),
        (["report", "--since", "0001-01-01"], "--since: '0001-01-01' is out of range"),
        (["report", "sample", "--since", "2026-01-01", "--out", "x", "--size", "9" * 5000], ""),
        (["release-notes", "--since", "2026-01-01", "--until", "10000-01-01"], "--until"),
        (["calendar", "--from", "0001-01-01"], "--from: '0001-01-01' is out of range"),
        (["calendar", "--until", "9999-12-31"], "--until: '9999-12-31' is out of range"),
        (["calendar", "--system", " "], "--system: empty"),
        (["freeze", "export", "--format", "argocd", "--system", ""], "--system: empty"),
    ],
)
def test_cli_refuses_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    extra = ["--decision", "approve", "--by", "cab"] if argv[:2] == ["cab", "decide"] else []
    code, err = _cli(capsys, *argv, *extra, "--config", str(_config(tmp_path)))
    assert code == 2, err
    assert err.startswith("error: ") and fragment in err
    assert err.count("\n") == 1
    assert "Traceback" not in err and "unexpected" not in err


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("since=2026-01-01&until=9999-12-31", "until: '9999-12-31' is out of range"),
        ("since=0001-01-01", "since: '0001-01-01' is out of range"),
        ("since=2026-01-01&until=99999-01-01", "until: '99999-01-01' is not a date"),
        ("since=2026-01-01%00", "is not a date"),
        ("since=" + "9" * 5000, "is not a date"),
        ("since=2026-01-02&until=2026-01-01", "until: before since"),
    ],
)
def test_report_api_refuses_with_400(store: Store, query: str, fragment: str) -> None:
    settings = Settings(server=ServerSettings(report_token=SecretStr(TOKEN)))
    app = build_app(settings, store, Metrics())

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return await client.get(f"/reports/changes?{query}", headers=headers)

    try:
        response = asyncio.run(get())
    finally:
        app.writer.close()
    assert response.status_code == 400
    message = response.json()["error"]
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("until=9999-12-31", "until: '9999-12-31' is out of range"),
        ("from=0001-01-01", "from: '0001-01-01' is out of range"),
        ("from=2026-01-01%00", "is not a date"),
        ("from=" + "9" * 5000, "is not a date"),
        ("from=2026-01-02&until=2026-01-01", "until: 2026-01-01 is before from 2026-01-02"),
        ("source=..%2F..", "source: no source named '../..'"),
        ("system=", "system: empty"),
    ],
)
def test_calendar_refuses_with_400(store: Store, query: str, fragment: str) -> None:
    settings = Settings(server=ServerSettings(report_token=SecretStr(TOKEN)))
    app = build_app(settings, store, Metrics())

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker") as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            return await client.get(f"/calendar.ics?{query}", headers=headers)

    try:
        response = asyncio.run(get())
    finally:
        app.writer.close()
    assert response.status_code == 400
    message = response.json()["error"]
    assert fragment in message and "\n" not in message


def test_release_ticket_in_the_config_must_be_a_key(tmp_path: Path) -> None:
    from connector.core.errors import ConfigError
    from connector.settings import load_settings

    config = _config(tmp_path)
    with config.open("a", encoding="utf-8") as out:
        out.write('[release_notes]\nrelease_tickets = { acme-jira = "OPS-1/../x" }\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = caught.value.message
    assert "release_notes.release_tickets.acme-jira: 'OPS-1/../x' is not a Jira" in message
    assert "\n" not in message

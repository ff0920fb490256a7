"""A catalogue of broken configs and mappings: `check-config` refuses each one with exit 2 and
one line naming the file and key (or the environment variable that set the bad value), never a
traceback, never "ok"; and the good config it is built from passes.

Each case edits a known-good config (two sources, their own copies of the shipped mappings);
`CASES` is the catalogue: (id, edit, environment, what the line must name).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connector.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]
PG_DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none"
SECRET = "kept-out-of-every-message-1"


def good_config(tmp: Path) -> str:
    return f"""
data_dir = "{tmp / "data"}"

[server]
report_token = "report-token-0123456789"

[audit]
hmac_key = "audit-key-0123456789abcdef"
anchor_file = "{tmp / "anchors.jsonl"}"

[release_notes]
templates_dir = "{tmp / "templates"}"

[sources.acme-jira]
kind = "jira"
url = "https://acme.atlassian.net"
username = "bot@acme.example"
token = "{SECRET}"
mapping = "{tmp / "jira.toml"}"
webhook_secret = "jira-webhook-secret-0123"

[sources.acme-snow]
kind = "servicenow"
url = "https://acme.service-now.com"
username = "bot"
token = "snow-password-1"
mapping = "{tmp / "snow.toml"}"
ca_bundle = "{tmp / "ca.pem"}"
webhook_secret = "snow-webhook-secret-0123"
"""


@dataclass(frozen=True)
class Case:
    id: str
    edit: Callable[[str, Path], str]  # (config text, tmp dir) -> config text; may write files
    names: tuple[str, ...]  # what the error line must contain ({file}: the config's path)
    env: dict[str, str] = field(default_factory=dict)


def sub(old: str, new: str) -> Callable[[str, Path], str]:
    def edit(text: str, _tmp: Path) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def then(
    first: Callable[[str, Path], str], act: Callable[[Path], None]
) -> Callable[[str, Path], str]:
    def edit(text: str, tmp: Path) -> str:
        act(tmp)
        return first(text, tmp)

    return edit


def keep(text: str, _tmp: Path) -> str:
    return text


def add(lines: str) -> Callable[[str, Path], str]:
    return lambda text, _tmp: lines + "\n" + text


def append(lines: str) -> Callable[[str, Path], str]:
    return lambda text, _tmp: text + "\n" + lines


SECOND_JIRA = """[sources.ACME_Jira]
kind = "jira"
url = "https://b.example"
username = "u"
token = "t0k3n-b"
mapping = "m.toml"
"""


def write(name: str, content: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).write_text(content)


def edit_mapping(name: str, old: str, new: str) -> Callable[[Path], None]:
    def act(tmp: Path) -> None:
        path = tmp / name
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    return act


JIRA_TOKEN = f'token = "{SECRET}"'
JIRA_HOOK = 'webhook_secret = "jira-webhook-secret-0123"'
JIRA_URL = 'url = "https://acme.atlassian.net"'
ENV_JIRA = "CHANGE_CONNECTOR__SOURCES__ACME_JIRA__"

CASES = [
    # -- secrets in the file
    Case(
        "token-empty", sub(JIRA_TOKEN, 'token = ""'), ("{file}: sources.acme-jira.token", "empty")
    ),
    Case(
        "token-blank",
        sub(JIRA_TOKEN, 'token = "   "'),
        ("{file}: sources.acme-jira.token", "whitespace"),
    ),
    Case(
        "token-example",
        sub(JIRA_TOKEN, 'token = "set-me-in-the-environment"'),
        ("{file}: sources.acme-jira.token", "placeholder"),
    ),
    Case(
        "token-changeme",
        sub(JIRA_TOKEN, 'token = "CHANGEME"'),
        ("{file}: sources.acme-jira.token", "placeholder"),
    ),
    Case(
        "hook-secret",
        sub(JIRA_HOOK, 'webhook_secret = "secret"'),
        ("{file}: sources.acme-jira.webhook_secret", "placeholder"),
    ),
    Case(
        "hook-xxx",
        sub(JIRA_HOOK, 'webhook_secret = "xxxxxxxxxxxxxxxxxxxx"'),
        ("{file}: sources.acme-jira.webhook_secret", "placeholder"),
    ),
    Case(
        "hook-short",
        sub(JIRA_HOOK, 'webhook_secret = "abc123xyz"'),
        ("{file}: sources.acme-jira.webhook_secret", "at least 16"),
    ),
    Case(
        "hook-empty",
        sub(JIRA_HOOK, 'webhook_secret = ""'),
        ("{file}: sources.acme-jira.webhook_secret", "empty"),
    ),
    Case(
        "report-empty",
        sub('report_token = "report-token-0123456789"', 'report_token = ""'),
        ("{file}: server.report_token", "empty"),
    ),
    Case(
        "report-short",
        sub('report_token = "report-token-0123456789"', 'report_token = "tok-123"'),
        ("{file}: server.report_token", "at least 16"),
    ),
    Case(
        "audit-key-template",
        sub('hmac_key = "audit-key-0123456789abcdef"', 'hmac_key = "<your-audit-key>"'),
        ("{file}: audit.hmac_key", "placeholder"),
    ),
    # -- secrets from the environment: the variable is named, not the file
    Case(
        "env-hook-empty",
        keep,
        (f"{ENV_JIRA}WEBHOOK_SECRET", "empty"),
        {f"{ENV_JIRA}WEBHOOK_SECRET": ""},
    ),
    Case(
        "env-token-placeholder",
        keep,
        (f"{ENV_JIRA}TOKEN", "placeholder"),
        {f"{ENV_JIRA}TOKEN": "changeme"},
    ),
    Case(
        "env-report-blank",
        keep,
        ("CHANGE_CONNECTOR__SERVER__REPORT_TOKEN", "whitespace"),
        {"CHANGE_CONNECTOR__SERVER__REPORT_TOKEN": "  \t "},
    ),
    Case(
        "env-store-empty",
        keep,
        ("CHANGE_CONNECTOR__STORE_URL", "empty"),
        {"CHANGE_CONNECTOR__STORE_URL": ""},
    ),
    Case(
        "env-audit-short",
        keep,
        ("CHANGE_CONNECTOR__AUDIT__HMAC_KEY", "at least 16"),
        {"CHANGE_CONNECTOR__AUDIT__HMAC_KEY": "short-key"},
    ),
    # -- other bad values from the environment
    Case(
        "env-page-size",
        keep,
        (f"{ENV_JIRA}PAGE_SIZE", "sources.acme-jira.page_size"),
        {f"{ENV_JIRA}PAGE_SIZE": "0"},
    ),
    Case(
        "env-url-http",
        keep,
        (f"{ENV_JIRA}URL", "https"),
        {f"{ENV_JIRA}URL": "http://acme.atlassian.net"},
    ),
    Case(
        "env-port",
        keep,
        ("CHANGE_CONNECTOR__SERVER__PORT", "integer"),
        {"CHANGE_CONNECTOR__SERVER__PORT": "eighty"},
    ),
    Case(
        "env-mapping-missing",
        keep,
        (f"{ENV_JIRA}MAPPING", "no such file"),
        {f"{ENV_JIRA}MAPPING": "/nonexistent/jira.toml"},
    ),
    Case(
        "env-empty-part",
        keep,
        ("CHANGE_CONNECTOR__SOURCES____TOKEN", "empty name part"),
        {"CHANGE_CONNECTOR__SOURCES____TOKEN": "x"},
    ),
    # -- mappings
    Case(
        "mapping-missing",
        sub('mapping = "', 'mapping = "/nonexistent'),
        ("{file}: sources.acme-jira.mapping", "no such file"),
    ),
    Case(
        "mapping-wrong-system",
        then(keep, lambda tmp: shutil.copy(tmp / "jira.toml", tmp / "snow.toml")),
        ("{file}: sources.acme-snow.mapping", "is a jira mapping", "'servicenow'"),
    ),
    Case(
        "mapping-converter",
        then(
            keep,
            edit_mapping("jira.toml", '\nconverter = "text"', '\nconverter = "no_such_converter"'),
        ),
        ("{file}: sources.acme-jira.mapping", "jira.toml", "converter"),
    ),
    Case(
        "mapping-toml",
        then(keep, write("snow.toml", "[fields\n")),
        ("{file}: sources.acme-snow.mapping", "snow.toml", "TOML"),
    ),
    Case(
        "mapping-directory",
        then(keep, lambda tmp: ((tmp / "snow.toml").unlink(), (tmp / "snow.toml").mkdir())),
        ("{file}: sources.acme-snow.mapping", "directory"),
    ),
    # -- CA bundle
    Case(
        "ca-missing",
        then(keep, lambda tmp: (tmp / "ca.pem").unlink()),
        ("{file}: sources.acme-snow.ca_bundle", "no such file"),
    ),
    Case(
        "ca-not-pem",
        then(keep, write("ca.pem", "just some text\n")),
        ("{file}: sources.acme-snow.ca_bundle", "not a PEM"),
    ),
    Case(
        "ca-broken-pem",
        then(
            keep,
            write(
                "ca.pem",
                "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            ),
        ),
        ("{file}: sources.acme-snow.ca_bundle", "not a valid PEM"),
    ),
    Case(
        "ca-directory",
        then(keep, lambda tmp: ((tmp / "ca.pem").unlink(), (tmp / "ca.pem").mkdir())),
        ("{file}: sources.acme-snow.ca_bundle", "directory"),
    ),
    # -- URLs
    Case(
        "url-no-host", sub(JIRA_URL, 'url = "https://"'), ("{file}: sources.acme-jira.url", "host")
    ),
    Case(
        "url-http",
        sub(JIRA_URL, 'url = "http://acme.atlassian.net"'),
        ("{file}: sources.acme-jira.url",),
    ),
    Case(
        "url-port",
        sub(JIRA_URL, 'url = "https://acme.atlassian.net:https"'),
        ("{file}: sources.acme-jira.url", "not a URL"),
    ),
    Case(
        "url-no-scheme",
        sub(JIRA_URL, 'url = "acme.atlassian.net"'),
        ("{file}: sources.acme-jira.url",),
    ),
    Case(
        "url-space",
        sub(JIRA_URL, 'url = "https://acme .atlassian.net"'),
        ("{file}: sources.acme-jira.url", "host"),
    ),
    Case(
        "url-query",
        sub(JIRA_URL, 'url = "https://acme.atlassian.net/?x=1"'),
        ("{file}: sources.acme-jira.url", "query"),
    ),
    # -- directories, files and the store
    Case(
        "templates-missing",
        then(keep, lambda tmp: (tmp / "templates").rmdir()),
        ("{file}: release_notes.templates_dir", "not a directory"),
    ),
    Case(
        "anchor-dir-missing",
        sub('anchor_file = "', 'anchor_file = "/nonexistent/dir/'),
        ("{file}: audit.anchor_file", "does not exist"),
    ),
    Case(
        "store-unsupported",
        add('store_url = "mysql://u@db/x"'),
        ("{file}: store_url", "not supported"),
    ),
    Case(
        "store-unreachable",
        add(f'store_url = "{PG_DOWN}"'),
        ("{file}: store_url", "cannot connect"),
    ),
    Case(
        "store-not-url",
        add('store_url = "::not a url::"'),
        ("{file}: store_url", "not a database URL"),
    ),
    Case(
        "data-dir-file",
        then(keep, write("data", "a file, not a directory")),
        ("{file}: data_dir", "not a directory"),
    ),
    # -- shape
    Case(
        "names-case",
        append(SECOND_JIRA),
        ("{file}: sources.ACME_Jira", "same name as sources.acme-jira"),
    ),
    Case(
        "unknown-key",
        sub("[server]", "[server]\ncolour = 1"),
        ("{file}: server.colour", "unknown key"),
    ),
    Case(
        "bad-kind",
        sub('kind = "servicenow"', 'kind = "remedy"'),
        ("{file}: sources.acme-snow.kind",),
    ),
    Case(
        "scope-unknown",
        append('[policy.scope.nobody]\nquery = "active=true"'),
        ("{file}: policy.scope.nobody", "no source named"),
    ),
    Case("toml-syntax", add("[server"), ("{file}", "not valid TOML")),
]


def test_the_catalogue_is_large_and_unique() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("CHANGE_CONNECTOR__"):
            monkeypatch.delenv(name)
    shutil.copy(ROOT / "mappings" / "jira-default.toml", tmp_path / "jira.toml")
    shutil.copy(ROOT / "mappings" / "servicenow-default.toml", tmp_path / "snow.toml")
    (tmp_path / "templates").mkdir()
    from connector.sandbox.tls import ensure_tls  # a real PEM CA

    shutil.copy(ensure_tls(tmp_path / "tls").ca_cert, tmp_path / "ca.pem")
    return tmp_path


def check_config(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(["check-config", "--config", str(config)])
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(ended.value.code or 0), out.out, out.err


def test_the_good_config_passes(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = workspace / "c.toml"
    config.write_text(good_config(workspace))
    code, out, err = check_config(config, capsys)
    assert (code, err) == (0, "")
    assert out == "ok: sources: acme-jira (jira), acme-snow (servicenow)\n"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_config_is_one_line_naming_where(
    case: Case, workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workspace / "c.toml"
    config.write_text(case.edit(good_config(workspace), workspace))
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    code, out, err = check_config(config, capsys)
    assert code == 2, (out, err)
    assert "ok" not in out and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and SECRET not in err
    for needle in case.names:
        assert needle.replace("{file}", str(config)) in err, (needle, err)
    if case.env:  # blamed on the variable, not on the file's key
        assert not re.search(re.escape(f"{config}: ") + r"(sources|server|store_url|audit)", err)


def test_every_error_in_one_run(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shape, secret, environment and file problems of different sources, all on one line."""
    config = workspace / "c.toml"
    text = good_config(workspace).replace(JIRA_URL, 'url = "https://"')
    config.write_text(text.replace('kind = "servicenow"', 'kind = "servicenow"\ncolour = "red"'))
    (workspace / "templates").rmdir()
    shutil.copy(workspace / "jira.toml", workspace / "other.toml")
    monkeypatch.setenv("CHANGE_CONNECTOR__SERVER__REPORT_TOKEN", "")
    monkeypatch.setenv("CHANGE_CONNECTOR__SOURCES__THIRD__KIND", "servicenow")
    monkeypatch.setenv("CHANGE_CONNECTOR__SOURCES__THIRD__URL", "https://third.example")
    monkeypatch.setenv("CHANGE_CONNECTOR__SOURCES__THIRD__USERNAME", "bot")
    monkeypatch.setenv("CHANGE_CONNECTOR__SOURCES__THIRD__TOKEN", "third-password")
    monkeypatch.setenv("CHANGE_CONNECTOR__SOURCES__THIRD__MAPPING", str(workspace / "other.toml"))
    code, out, err = check_config(config, capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    for needle in (
        f"{config}: sources.acme-jira.url: not an https URL",
        f"{config}: sources.acme-snow.colour: unknown key",
        "CHANGE_CONNECTOR__SERVER__REPORT_TOKEN (server.report_token): empty",
        "CHANGE_CONNECTOR__SOURCES__THIRD__MAPPING (sources.third.mapping): ",
        "is a jira mapping, but the source is kind = 'servicenow'",
        f"{config}: release_notes.templates_dir: ",
    ):
        assert needle in err, (needle, err)

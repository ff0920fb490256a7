"""Secrets: empty, blank, placeholder and too-short values are refused, from the file and from
the environment, naming the key or the variable and never the value; at request time a blank
secret verifies nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from connector.core import secret_rules
from connector.core.errors import ConfigError
from connector.serve.report_api import _refused
from connector.serve.webhooks import check_secrets
from connector.settings import ServerSettings, Settings, SourceSettings, load_settings

BASE = """
[server]
report_token = "report-token-0123456789"

[sources.acme-jira]
kind = "jira"
url = "https://acme.atlassian.net"
username = "bot@acme.example"
token = "api-token-1"
mapping = "mappings/jira-default.toml"
webhook_secret = "webhook-secret-0123456789"
"""
HOOK = 'webhook_secret = "webhook-secret-0123456789"'


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        ("   ", "only whitespace"),
        ("\t\n", "only whitespace"),
        ("set-me-in-the-environment", "placeholder"),
        ("CHANGEME", "placeholder"),
        ("changeme", "placeholder"),
        ("secret", "placeholder"),
        ("xxx", "placeholder"),
        ("XXXXXXXXXXXXXXXXXXXX", "placeholder"),
        ("********************", "placeholder"),
        ("<your-webhook-secret>", "placeholder"),
        ("${WEBHOOK_SECRET}", "placeholder"),
        ("  password  ", "placeholder"),
        ("short-secret", "at least 16"),
    ],
)
def test_what_is_not_a_secret(value: str, why: str) -> None:
    found = secret_rules.problem(value, min_length=16)
    assert found is not None and why in found
    assert len(value.strip()) < 8 or value.strip() not in found  # never quoted back


def test_what_is_a_secret() -> None:
    assert secret_rules.problem("a3f9c2e17b5d4e08", min_length=16) is None
    assert secret_rules.problem("tok-alice-7Qm2") is None  # API tokens: no minimum length


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("value", ["", "  ", "set-me-in-the-environment", "too-short"])
def test_file_values_are_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, BASE.replace(HOOK, f'webhook_secret = "{value}"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.message.startswith(f"{path}: sources.acme-jira.webhook_secret: ")
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHANGE_CONNECTOR__SOURCES__ACME_JIRA__WEBHOOK_SECRET", ""),
        ("CHANGE_CONNECTOR__SOURCES__ACME_JIRA__WEBHOOK_SECRET", "   "),
        ("CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN", "changeme"),
        ("CHANGE_CONNECTOR__SERVER__REPORT_TOKEN", ""),
        ("CHANGE_CONNECTOR__SERVER__REPORT_TOKEN", "short-token"),
        ("CHANGE_CONNECTOR__AUDIT__HMAC_KEY", "xxx"),
    ],
)
def test_environment_values_are_refused_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, BASE), environ={variable: value})
    assert caught.value.message.startswith(f"{variable} (")
    assert str(tmp_path) not in caught.value.message  # the file is not blamed


def test_a_good_environment_value_replaces_a_placeholder_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace(HOOK, 'webhook_secret = "set-me-in-the-environment"'))
    variable = "CHANGE_CONNECTOR__SOURCES__ACME_JIRA__WEBHOOK_SECRET"
    settings = load_settings(path, environ={variable: "f3c1d9e2a7b64c58"})
    secret = settings.sources["acme-jira"].webhook_secret
    assert secret is not None and secret.get_secret_value() == "f3c1d9e2a7b64c58"


def test_the_server_refuses_a_blank_webhook_secret_built_in_code() -> None:
    source = SourceSettings(
        kind="jira",
        url="https://acme.atlassian.net",
        username="bot",
        token=SecretStr("api-token-1"),
        mapping=Path("m.toml"),
        webhook_secret=SecretStr("  "),
    )
    settings = Settings(
        sources={"acme": source}, server=ServerSettings(insecure_unsigned_webhooks=True)
    )
    with pytest.raises(ConfigError, match=r"^sources\.acme\.webhook_secret: empty"):
        check_secrets(settings)


def bearer(value: str | None) -> Request:
    headers = [] if value is None else [(b"authorization", value.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize("configured", ["", "   "])
def test_an_empty_bearer_never_gets_the_report(configured: str) -> None:
    settings = Settings(server=ServerSettings(report_token=SecretStr(configured)))
    for given in ("Bearer ", "Bearer", "Bearer    ", None, f"Bearer {configured}"):
        refused = _refused(bearer(given), settings)
        assert refused is not None and refused.status_code in (401, 403)


def test_the_right_bearer_gets_the_report_and_an_empty_one_does_not() -> None:
    settings = Settings(server=ServerSettings(report_token=SecretStr("report-token-0123456789")))
    assert _refused(bearer("Bearer report-token-0123456789"), settings) is None
    refused = _refused(bearer("Bearer "), settings)
    assert refused is not None and refused.status_code == 401

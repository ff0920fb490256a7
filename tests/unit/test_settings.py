"""Settings: TOML + environment overrides, every error with its dotted path, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.core.errors import ConfigError
from connector.settings import load_settings

GOOD = """
[sources.acme-jira]
kind = "jira"
url = "https://acme.atlassian.net"
username = "bot@acme.example"
token = "from-file"
mapping = "mappings/jira-default.toml"

[sources.client-b]
kind = "servicenow"
url = "https://clientb.service-now.com"
username = "bot"
token = "snow-secret"
mapping = "/abs/servicenow.toml"
"""


EXAMPLE_SECRETS = {
    "CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN": "jira-api-token-1",
    "CHANGE_CONNECTOR__SOURCES__ACME_JIRA__WEBHOOK_SECRET": "0123456789abcdef-jira",
    "CHANGE_CONNECTOR__SOURCES__ACME_SERVICENOW__TOKEN": "sn-password-1",
    "CHANGE_CONNECTOR__SOURCES__ACME_SERVICENOW__WEBHOOK_SECRET": "0123456789abcdef-snow",
    "CHANGE_CONNECTOR__SERVER__REPORT_TOKEN": "0123456789abcdef-report",
    "CHANGE_CONNECTOR__AUDIT__HMAC_KEY": "0123456789abcdef-audit",
    "CHANGE_CONNECTOR__REPORTS__PACK_KEY": "0123456789abcdef-pack",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "change-connector.toml"
    path.write_text(text)
    return path


def test_several_sources_and_relative_paths(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), environ={})
    assert sorted(settings.sources) == ["acme-jira", "client-b"]
    assert settings.sources["acme-jira"].mapping == tmp_path / "mappings/jira-default.toml"
    assert settings.sources["client-b"].mapping == Path("/abs/servicenow.toml")


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {"CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN": "from-env"}
    settings = load_settings(write(tmp_path, GOOD), environ=env)
    assert settings.sources["acme-jira"].token.get_secret_value() == "from-env"
    assert settings.sources["client-b"].token.get_secret_value() == "snow-secret"


def test_secrets_never_print(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), environ={})
    assert "from-file" not in repr(settings) and "from-file" not in str(settings)
    assert "snow-secret" not in settings.model_dump_json()


def test_every_error_at_once_with_dotted_paths(tmp_path: Path) -> None:
    bad = GOOD.replace('kind = "servicenow"', 'kind = "remedy"').replace(
        'url = "https://acme.atlassian.net"', 'url = "http://acme.atlassian.net"\ncolour = "red"'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, bad), environ={})
    message = str(err.value)
    assert "\n" not in message
    assert "sources.client-b.kind" in message
    assert "sources.acme-jira.url" in message
    assert "sources.acme-jira.colour: unknown key" in message
    assert "from-file" not in message


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[sources\n"), environ={})
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_example_config_is_valid_and_documents_every_key() -> None:
    from connector.core.communications import ReleaseNotesSettings
    from connector.core.deploy.config import DeploySettings
    from connector.core.freeze_export import ArgoCdExport, ArgoTargets, FreezeExportSettings
    from connector.core.notes.guidance import Route
    from connector.core.notify.settings import NotifyChannel
    from connector.core.policy.config import (
        ApprovalPolicy,
        Freeze,
        MaintenanceWindow,
        PolicySettings,
        RequiredFields,
        ScopeRule,
    )
    from connector.settings import (
        AuditSettings,
        ServerSettings,
        Settings,
        SourceSettings,
        WorkerSettings,
    )

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    with pytest.raises(ConfigError, match="placeholder, not a secret"):
        load_settings(example, environ={})  # its secrets are placeholders until set
    settings = load_settings(example, environ=EXAMPLE_SECRETS)
    assert settings.sources
    assert settings.audit.hmac_key is not None
    text = example.read_text()
    models = (Settings, ServerSettings, WorkerSettings, SourceSettings, PolicySettings)
    models += (RequiredFields, ApprovalPolicy, Freeze, MaintenanceWindow, ScopeRule)
    models += (ReleaseNotesSettings, Route, AuditSettings, NotifyChannel, DeploySettings)
    models += (FreezeExportSettings, ArgoCdExport, ArgoTargets)
    for model in models:
        for name in model.model_fields:
            documented = (f"{name} =", f"[{name}", f"{name}.", f".{name}]", f".{name}.")
            assert any(d in text for d in documented), name


@pytest.mark.parametrize("value", ["0", "33", '"four"', "2.5"])
def test_write_concurrency_out_of_range_is_one_line_naming_the_key(
    tmp_path: Path, value: str
) -> None:
    bad = GOOD.replace('token = "from-file"', f'token = "from-file"\nwrite_concurrency = {value}')
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, bad), environ={})
    message = str(err.value)
    assert "\n" not in message
    assert "sources.acme-jira.write_concurrency" in message


def test_write_concurrency_defaults_to_four_and_one_is_allowed(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            GOOD.replace('token = "snow-secret"', 'token = "snow-secret"\nwrite_concurrency = 1'),
        ),
        environ={},
    )
    assert settings.sources["acme-jira"].write_concurrency == 4
    assert settings.sources["client-b"].write_concurrency == 1

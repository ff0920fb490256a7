"""Empty, blank and placeholder secrets stop `run` before it serves anything, and `check-config`
says the same: exit 2, one line naming the config key (or the environment variable that set it),
never the value and never "ok". Each command runs as an operator starts it (a real process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = 'webhook_secret = "jira-webhook-secret-0123"'
REPORT = 'report_token = "report-token-0123456789"'
ENV_HOOK = "CHANGE_CONNECTOR__SOURCES__ACME_JIRA__WEBHOOK_SECRET"
ENV_REPORT = "CHANGE_CONNECTOR__SERVER__REPORT_TOKEN"


def _config(tmp_path: Path, port: int) -> str:
    return f"""
data_dir = "{tmp_path / "data"}"
store_url = "sqlite:///{tmp_path / "store.db"}"

[server]
port = {port}
{REPORT}

[sources.acme-jira]
kind = "jira"
url = "https://127.0.0.1:9"
username = "bot"
token = "api-token-1"
mapping = "{ROOT / "mappings" / "jira-default.toml"}"
{HOOK}
"""


# (id, file edit (old, new) or None, environment, what the one line names)
CASES = [
    ("hook-empty", (HOOK, 'webhook_secret = ""'), {}, "sources.acme-jira.webhook_secret"),
    ("hook-blank", (HOOK, 'webhook_secret = "   "'), {}, "sources.acme-jira.webhook_secret"),
    (
        "hook-example",
        (HOOK, 'webhook_secret = "set-me-in-the-environment"'),
        {},
        "sources.acme-jira.webhook_secret",
    ),
    ("report-empty", (REPORT, 'report_token = ""'), {}, "server.report_token"),
    (
        "report-example",
        (REPORT, 'report_token = "set-me-in-the-environment"'),
        {},
        "server.report_token",
    ),
    ("env-hook-empty", None, {ENV_HOOK: ""}, ENV_HOOK),
    ("env-report-placeholder", None, {ENV_REPORT: "changeme"}, ENV_REPORT),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["run", "check-config"])
@pytest.mark.parametrize(
    ("edit", "env", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_secret_that_is_not_one_stops_the_command(
    tmp_path: Path,
    command: str,
    edit: tuple[str, str] | None,
    env: dict[str, str],
    names: str,
) -> None:
    port = _free_port()
    text = _config(tmp_path, port)
    if edit is not None:
        assert edit[0] in text
        text = text.replace(*edit)
    config = tmp_path / "c.toml"
    config.write_text(text)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHANGE_CONNECTOR__")}
    result = subprocess.run(
        [sys.executable, "-m", "connector", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,  # a `run` that accepted the secret would serve until killed
        env={**environ, **env},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "ok" not in result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and names in line
    if env:  # blamed on the variable, not on the file
        assert f"{config}: " not in line
    else:
        assert f"{config}: {names}: " in line
    # nothing was served and nothing was stored
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert not (tmp_path / "store.db").exists()

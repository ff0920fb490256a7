"""The systemd unit in deploy/systemd, read as systemd reads it: the service runs `run` as its
own user with its secrets from an environment file, restarts after a failure (not after a
configuration error), stops gracefully, and is confined to its state directory and the network.
The example environment file names only settings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.settings import load_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/systemd/change-connector.service"
ENV_EXAMPLE = ROOT / "deploy/systemd/change-connector.env.example"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value assigned (systemd lets some keys repeat), comments and
    continuation lines as systemd treats them."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text())["Service"]


def one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key)
    assert values is not None and len(values) == 1, (key, values)
    return values[0]


def test_runs_the_worker_as_its_own_user_with_secrets_from_an_environment_file(
    service: dict[str, list[str]],
) -> None:
    command = one(service, "ExecStart").split()
    assert Path(command[0]).name == "change-connector" and command[1] == "run"
    assert "--config" in command
    user = one(service, "User")
    assert user not in ("", "root") and one(service, "Group") == user
    assert one(service, "EnvironmentFile").startswith("/etc/change-connector/")
    state = one(service, "StateDirectory")
    assert one(service, "WorkingDirectory") == f"/var/lib/{state}"
    assert f"CHANGE_CONNECTOR__DATA_DIR=/var/lib/{state}" in service["Environment"]
    # no secret in the unit itself: only in the environment file
    assert not [e for e in service.get("Environment", []) if re.search("TOKEN|SECRET|KEY", e)]


def test_restarts_after_a_failure_with_a_delay_but_not_after_a_config_error(
    service: dict[str, list[str]],
) -> None:
    assert one(service, "Restart") == "on-failure"
    delay = re.fullmatch(r"(\d+)s", one(service, "RestartSec"))
    assert delay and int(delay.group(1)) >= 5
    assert one(service, "RestartPreventExitStatus") == "2"  # the CLI's exit on bad config
    unit = parse_unit(UNIT.read_text())["Unit"]
    assert unit["StartLimitBurst"] and unit["StartLimitIntervalSec"]


def test_stops_with_sigterm_and_waits_for_the_current_job(service: dict[str, list[str]]) -> None:
    assert one(service, "KillSignal") == "SIGTERM"  # what Worker.run finishes cleanly on
    stop = re.fullmatch(r"(\d+)s", one(service, "TimeoutStopSec"))
    assert stop and int(stop.group(1)) >= 60


def test_hardening(service: dict[str, list[str]]) -> None:
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "UMask": "0077",
    }
    assert {key: one(service, key) for key in expected} == expected
    families = one(service, "RestrictAddressFamilies").split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert service["SystemCallFilter"][0] == "@system-service"
    # under ProtectSystem=strict the state directory is the only writable place
    assert "ReadWritePaths" not in service


def test_the_example_environment_file_names_settings_that_exist(tmp_path: Path) -> None:
    names = re.findall(r"^#?(CHANGE_CONNECTOR__\w+)=$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert len(names) >= 5 and "CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN" in names
    values = {name: f"value-{i:02d}-long-enough-for-any-secret" for i, name in enumerate(names)}
    values["CHANGE_CONNECTOR__STORE_URL"] = f"sqlite:///{tmp_path / 'store.db'}"
    for name in names:
        if name.endswith("__URL") and "__NOTIFY__" in name:
            values[name] = f"https://hooks.example.net/{name.lower()}/{values[name]}"
    # The example's chat channels are commented out: uncommented, as an admin would.
    lines = (ROOT / "config.example.toml").read_text().splitlines()
    start = lines.index("# [[notify]]")
    example = tmp_path / "config.example.toml"
    example.write_text(
        "\n".join(lines[:start] + [line.removeprefix("# ") for line in lines[start:]]) + "\n"
    )
    loaded = load_config(example, environ=values)
    # every variable set a setting of the example config (a misspelt one would add a key,
    # which the settings refuse as unknown)
    assert sorted(loaded.origins.values()) == sorted(names)
    tokens = {name: s.token.get_secret_value() for name, s in loaded.settings.sources.items()}
    assert tokens["acme-jira"] == values["CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN"]

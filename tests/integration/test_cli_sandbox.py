"""`change-connector sandbox --json` serves both APIs over HTTPS with its own CA."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


def sandbox_command(tmp_path: Path, *options: str) -> list[str]:
    """`change-connector sandbox` with its CA and certificates under `tmp_path`."""
    data_dir = str(tmp_path / "sandbox")
    return [sys.executable, "-m", "connector", "sandbox", "--data-dir", data_dir, *options]


def start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, object]]:
    options = ("--port", "0", "--seed", "200", "--random-seed", "3", "--json")
    proc = start(sandbox_command(tmp_path, *options))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)  # also closes the pipes


def test_sandbox_json_line_serves_jira_and_servicenow(served: dict[str, object]) -> None:
    info = served
    assert set(info) >= {"jira_url", "servicenow_url", "ca_bundle", "users", "requests_url"}
    users = info["users"]
    assert isinstance(users, dict)
    connector = users["connector"]
    ca = str(info["ca_bundle"])
    jira = requests.get(
        f"{info['jira_url']}/rest/api/2/serverInfo",
        auth=(connector["jira_user"], connector["token"]),
        verify=ca,
        timeout=10,
    )
    assert jira.status_code == 200 and jira.json()["deploymentType"] == "Cloud"
    snow = requests.get(
        f"{info['servicenow_url']}/api/now/table/change_request",
        params={"sysparm_limit": 5},
        auth=(connector["servicenow_user"], connector["token"]),
        verify=ca,
        timeout=10,
    )
    assert snow.status_code == 200
    assert snow.headers["X-Total-Count"] == "200"
    assert len(snow.json()["result"]) == 5
    # TLS verification stays on: without the sandbox CA the handshake is refused.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{info['jira_url']}/rest/api/2/serverInfo", timeout=10)
    log = requests.get(str(info["requests_url"]), verify=ca, timeout=10).json()
    assert log["total"] >= 2
    assert {r["user"] for r in log["requests"] if r["system"] != "sandbox"} == {"connector"}


def test_bad_arguments_fail_in_one_line() -> None:
    for args, needle in (
        (["sandbox", "--mode", "mainframe"], "--mode: 'mainframe' is not one of"),
        (["sandbox", "--faults", "418:nth=1"], "unknown fault '418'"),
        (["sandbox", "--port", "abc"], "Invalid value for '--port'"),
    ):
        run = subprocess.run(
            [sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 2, run.stderr
        assert needle in run.stderr
        assert "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


def test_a_port_in_use_fails_in_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = sandbox_command(tmp_path, "--port", str(port), "--seed", "1")
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert f"--port: cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_without_json_it_prints_the_urls_and_the_users_for_people(tmp_path: Path) -> None:
    proc = start(sandbox_command(tmp_path, "--port", "0", "--seed", "1"))
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or lines[-1] != "Press Ctrl-C to stop.":
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "no output"
            lines.append(line.rstrip("\n"))
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert lines[0].startswith("Jira (cloud):  https://127.0.0.1:")
    assert lines[1].startswith("ServiceNow:        https://127.0.0.1:")
    assert lines[2].startswith("CA bundle:         ") and Path(lines[2].split()[-1]).is_file()
    users = lines[lines.index("Users (Jira user / ServiceNow user / token):") + 1 : -1]
    assert any(u.split()[0] == "connector" for u in users), users

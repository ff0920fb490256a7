"""Over real sockets: a sandbox whose CA is not configured is "not trusted" (exit 2, no retry),
and `run --log-json` writes nothing but JSON lines, the HTTP server's included."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from connector.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_untrusted_certificate_is_permanent_and_names_ca_bundle(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    info = sandbox.info
    user = info.users["connector"]
    config = tmp_path / "c.toml"
    config.write_text(f"""
data_dir = "{tmp_path / "data"}"
[sources.sandbox-jira]
kind = "jira"
url = "{info.jira_url}"
username = "{user["jira_user"]}"
token = "{user["token"]}"
mapping = "{ROOT / "mappings" / "jira-default.toml"}"
""")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "connector", "sync", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: sandbox-jira: read serverInfo: the TLS certificate of Jira is not trusted; set "
        "sources.sandbox-jira.ca_bundle to a PEM bundle with the CA that issued it "
        "(verification is never switched off)"
    )
    assert "retry" not in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


def test_log_json_covers_the_http_server(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[server]\nport = {port}\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--log-json", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn logs "Invalid HTTP request"
            assert sock.recv(64).startswith(b"HTTP/1.1 400")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = err.splitlines()
    assert lines, "nothing was logged"
    records = [json.loads(line) for line in lines]  # every line is JSON
    messages = [r["record"]["message"] for r in records]
    assert any("uvicorn.error: Invalid HTTP request received." in m for m in messages), messages

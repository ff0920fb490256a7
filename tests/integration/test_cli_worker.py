"""The worker commands as a user runs them: check-config, sync --dry-run, sync --once, status,
and `run` stopping cleanly on SIGTERM. Secrets never reach the output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sync_helpers import cli, cli_process, running_sandbox, ticket_writes, write_config

from connector.sandbox import Sandbox
from connector.serve.worker import Worker
from connector.settings import load_settings
from connector.store import Store


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("cli"), seed_count=30, random_seed=2) as box:
        yield box


def test_check_config_reports_every_error_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.a]\nkind = "jira"\nurl = "http://x"\ncolour = 1\n')
    result = cli_process("check-config", "--config", str(bad))
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    for needle in (
        "sources.a.url",
        "sources.a.colour: unknown key",
        "sources.a.username",
        "sources.a.token",
        "sources.a.mapping",
    ):
        assert needle in line


def test_dry_run_writes_nothing_then_sync_and_status(sandbox: Sandbox, tmp_path: Path) -> None:
    info = sandbox.info
    config = write_config(tmp_path / "c.toml", info, store_url=f"sqlite:///{tmp_path / 'store.db'}")
    assert cli("check-config", "--config", str(config)).returncode == 0

    dry = cli("sync", "--once", "--dry-run", "--config", str(config))
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: nothing written" in dry.stderr and '"idempotency_key"' in dry.stdout
    assert all(p["actions"] for p in json.loads(dry.stdout))  # the plans: raw JSON on stdout
    assert ticket_writes(info) == []

    real = cli_process("sync", "--once", "--config", str(config))
    assert real.returncode == 0, real.stderr
    assert ticket_writes(info)

    status = cli_process("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert "sandbox-jira" in status.stdout and "Inbox depth: 0" in status.stdout
    token = info.users["connector"]["token"]
    for output in (dry, real, status):
        assert token not in output.stdout + output.stderr


def test_unknown_source_is_one_line(sandbox: Sandbox, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml", sandbox.info, store_url=f"sqlite:///{tmp_path / 'store.db'}"
    )
    result = cli("sync", "--once", "--source", "nope", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --source: no source named 'nope' (known: sandbox-jira, sandbox-servicenow)"
    )


def polled(config: Path, timeout: float = 120) -> None:
    """Wait until the store holds a poll of sandbox-jira (a busy machine starts slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cli("status", "--json", "--config", str(config))
        runs = json.loads(status.stdout)["runs"] if status.returncode == 0 else []
        if any(r["kind"] == "poll" and r["source"] == "sandbox-jira" for r in runs):
            return
        time.sleep(0.3)
    raise AssertionError("`run` recorded no poll")


def run_config(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A config for `run`: the sandbox's sources, a webhook secret, a server on a free port."""
    config = write_config(
        tmp_path / "c.toml",
        sandbox.info,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        webhook_secret="s3cret-for-tests",
    )
    with config.open("a") as fh:
        fh.write("\n[server]\nport = 0\n")
    return config


def test_run_stops_cleanly_on_sigterm(sandbox: Sandbox, tmp_path: Path) -> None:
    config = run_config(sandbox, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    polled(config)  # started (its signal handlers set) and polling: stop it now
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "s3cret-for-tests" not in out + err
    assert "Traceback" not in err
    status = cli("status", "--config", str(config))
    assert "sandbox-jira" in status.stdout and "poll" in status.stdout  # its runs were recorded


def test_run_returns_once_its_server_has_stopped(sandbox: Sandbox, tmp_path: Path) -> None:
    """SIGTERM ends `run` after its HTTP server's thread has stopped, not beside it: a server
    thread still running while the store closes and the interpreter ends could crash it (a
    segmentation fault after SIGTERM, now and then)."""
    config = run_config(sandbox, tmp_path)
    settings = load_settings(config)
    before = signal.getsignal(signal.SIGTERM)
    with closing(Store.open(settings.store_url.get_secret_value())) as store:  # type: ignore[union-attr]
        worker = Worker(settings, store, name="stop-test").open()

        def stop_once_serving() -> None:  # run sets its signal handlers before it serves
            while worker._server_thread is None:
                time.sleep(0.05)
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)

        stopper = threading.Thread(target=stop_once_serving, daemon=True)
        stopper.start()
        try:
            worker.run()
        finally:
            signal.signal(signal.SIGTERM, before)
            worker.close()
        stopper.join(timeout=30)
    assert worker._server_thread is not None and not worker._server_thread.is_alive()

"""`change-connector run` as a service, in a process of its own: its start-up line names where it
listens, its sources and its store (password masked); after it has drained the sandbox's
webhooks, its /metrics (scraped over HTTP) show what the poller, the drain and the writes did,
and its log has a line per drained batch and per write."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from store_fixtures import PG_URL
from sync_helpers import running_sandbox, write_config

from connector.sandbox import Sandbox, SandboxInfo

JIRA, SNOW = "sandbox-jira", "sandbox-servicenow"
PASSWORD = "pw-never-logged-5813"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# Counters that stand still when the worker is idle (the cursor lag grows with the clock)
STILL = {
    "change_connector_webhooks_total",
    "change_connector_tickets_synced_total",
    "change_connector_actions_total",
    "change_connector_inbox_depth",
    "change_connector_drain_seconds_count",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, int]]:
    """A sandbox posting its webhooks to the port the worker will listen on."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/webhooks"
    with running_sandbox(
        tmp_path_factory.mktemp("run-service"),
        seed_count=12,
        random_seed=5,
        jira_webhook_url=f"{base}/jira/{JIRA}",
        servicenow_webhook_url=f"{base}/servicenow/{SNOW}",
        webhook_secret="run-service-webhook-secret",
        webhook_duplicate_rate=0.5,
    ) as box:
        yield box, port


def service_config(tmp_path: Path, info: SandboxInfo, *, store_url: str, port: int) -> Path:
    config = write_config(
        tmp_path / "c.toml",
        info,
        store_url=store_url,
        webhook_secret=info.webhook_secret,
        poll_interval_minutes=60,  # the poll at start-up only: webhooks do the rest
    )
    text_ = config.read_text().replace("[worker]\n", "[worker]\ndrain_interval_seconds = 1\n", 1)
    config.write_text(f"{text_}\n[server]\nport = {port}\n")
    return config


def start_run(config: Path, log: IO[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop_run(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def wait_for(what: str, check: Callable[[], Any], *, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(port: int) -> Samples:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def has_series(samples: Samples, name: str, **labels: str) -> bool:
    wanted = set(labels.items())
    return any(n == name and wanted <= ls for (n, ls) in samples)


def _edit(info: SandboxInfo, sandbox: Sandbox) -> int:
    """People edit two Jira issues and two ServiceNow changes; how many tickets were edited."""
    keys = sorted(issue.key for issue in sandbox.jira.store.issues.values())[:2]
    for key in keys:
        requests.put(
            f"{info.jira_url}/rest/api/2/issue/{key}",
            json={"fields": {"summary": f"{key} edited for the service test"}},
            auth=info.credentials("alice"),
            verify=info.ca_bundle,
            timeout=10,
        ).raise_for_status()
    table = f"{info.servicenow_url}/api/now/table/change_request"
    auth = info.credentials("alice", "servicenow")
    records = requests.get(
        table, params={"sysparm_limit": "2"}, auth=auth, verify=info.ca_bundle, timeout=10
    ).json()["result"]
    for record in records:
        requests.patch(
            f"{table}/{record['sys_id']}",
            json={"short_description": "edited for the service test"},
            auth=auth,
            verify=info.ca_bundle,
            timeout=10,
        ).raise_for_status()
    return len(keys) + len(records)


def test_run_drains_webhooks_and_its_counters_move(
    wired: tuple[Sandbox, int], tmp_path: Path
) -> None:
    sandbox, port = wired
    info = sandbox.info
    config = service_config(
        tmp_path, info, store_url=f"sqlite:///{tmp_path / 'store.db'}", port=port
    )
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        proc = start_run(config, log)
        try:
            # The start-up poll of both sources, and the webhooks its own writes caused
            wait_for("the start-up polls", lambda: log_path.read_text().count("poll sandbox-") >= 2)
            edited = _edit(info, sandbox)
            assert sandbox.webhooks.wait_idle(60)

            last: list[Samples] = []

            def drained() -> Samples | None:
                """The metrics once nothing is on its way or waiting: the sandbox has delivered
                everything (the echoes of the worker's writes too), the inbox is empty, and the
                counters stood still for longer than a drain interval."""
                time.sleep(1.5)
                if not sandbox.webhooks.wait_idle(5):
                    return None
                samples = scrape(port)
                moving = {k: v for k, v in samples.items() if k[0] in STILL}
                settled = last and last[-1] == moving
                last.append(moving)
                depth = total(samples, "change_connector_inbox_depth")
                # A delivery a drain has claimed is no longer pending (depth 0) until that drain
                # ends: wait until every accepted delivery has been drained one way or another.
                accepted = total(samples, "change_connector_webhooks_total", result="accepted")
                ended = total(samples, "change_connector_deliveries_drained_total")
                return samples if settled and depth == 0 and ended >= accepted else None

            samples = wait_for("the inbox drained", drained)
        finally:
            code = stop_run(proc)
    err = log_path.read_text()
    assert code == 0, err
    assert "Traceback" not in err

    assert {d.status for d in sandbox.webhooks.delivered} == {202}
    accepted = total(samples, "change_connector_webhooks_total", result="accepted")
    tickets = "change_connector_tickets_synced_total"
    for source in (JIRA, SNOW):
        # the start-up poll read every ticket in scope; the drain re-read the edited ones
        assert total(samples, tickets, source=source, path="poll") >= 1, source
        assert total(samples, tickets, source=source, path="webhook", outcome="changed") >= 2
        assert has_series(samples, "change_connector_cursor_lag_seconds", source=source)
        assert total(samples, "change_connector_polls_total", source=source, result="ok") == 1
    webhook_synced = total(samples, tickets, path="webhook")
    assert webhook_synced >= edited
    actions = "change_connector_actions_total"
    assert total(samples, actions, kind="note", result="written") >= 1
    kinds = {dict(ls)["kind"] for (n, ls) in samples if n == actions}
    assert kinds <= {"note", "transition", "label"}
    assert total(samples, actions) == total(samples, actions, result="written") + total(
        samples, actions, result="found"
    ) + total(samples, actions, result="superseded") + total(
        samples, actions, result="held"
    ) + total(samples, actions, result="failed") + total(samples, actions, result="error")
    drained_total = "change_connector_deliveries_drained_total"
    assert total(samples, drained_total, result="done") == accepted > 0
    assert total(samples, drained_total, result="failed") == 0
    assert total(samples, "change_connector_inbox_oldest_age_seconds") == 0
    assert total(samples, "change_connector_drain_seconds_count") >= 1

    # The log: a line per drained batch, per write; the deliveries add up to those taken
    batches = re.findall(r"drain: (\d+) deliveries, (\d+) tickets", err)
    assert batches
    assert sum(int(n) for n, _ in batches) == total(
        samples, "change_connector_deliveries_drained_total"
    )
    writes = re.findall(r"write (sandbox-\w+) ([\w-]+): (note|transition|label) \S+ -> (\w+)", err)
    assert len(writes) == total(samples, actions) - total(samples, actions, result="held")
    for secret in (info.users["connector"]["token"], info.webhook_secret):
        assert secret not in err
    # a store URL without a password is shown as it is (only passwords are secrets in it)
    assert f"; store: sqlite:///{tmp_path / 'store.db'}\n" in err


@pytest.fixture(name="pg_url_with_password")
def fixture_pg_url_with_password() -> Iterator[str]:
    """A fresh PostgreSQL schema, its URL carrying a password (trust auth ignores it)."""
    schema = f"t_run_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = PG_URL.replace("postgres@", f"postgres:{PASSWORD}@", 1)
        assert PASSWORD in url
        yield f"{url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_start_up_line_names_address_sources_and_store_masked(
    wired: tuple[Sandbox, int], tmp_path: Path, pg_url_with_password: str
) -> None:
    sandbox, _ = wired
    config = service_config(tmp_path, sandbox.info, store_url=pg_url_with_password, port=0)
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        proc = start_run(config, log)
        try:
            line = wait_for(
                "the start-up line",
                lambda: next(
                    (s for s in log_path.read_text().splitlines() if "change-connector run:" in s),
                    None,
                ),
            )
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+);", line)
            assert found, line
            port = int(found.group(1))
            assert port != 0  # the port the system chose, not the configured 0
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).ok
        finally:
            code = stop_run(proc)
    err = log_path.read_text()
    assert code == 0, err
    assert (
        f"sources: {JIRA} (system=jira, deployment=cloud, mode=enforce); "
        f"{SNOW} (system=servicenow, mode=enforce);"
    ) in line
    assert "store: postgresql+psycopg://postgres:***@127.0.0.1:5432/test?options=" in line
    assert PASSWORD not in err


def test_a_port_in_use_stops_run_with_one_line(tmp_path: Path) -> None:
    """Without its webhook intake the worker would only look healthy: it stops and says why."""
    config = tmp_path / "c.toml"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(f'store_url = "sqlite:///{tmp_path / "s.db"}"\n[server]\nport = {port}\n')
        result = subprocess.run(
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"error: server: cannot listen on 127.0.0.1:{port} (the reason is logged above)"
    assert "address already in use" in result.stderr


def test_store_url_masks_a_password_given_as_a_query_parameter(pg_url_with_password: str) -> None:
    from connector.store import Store

    plain = pg_url_with_password.replace(f":{PASSWORD}@", "@", 1)
    with Store.open(f"{plain}&password={PASSWORD}") as store:
        shown = store.url
    assert PASSWORD not in shown
    assert shown.startswith("postgresql+psycopg://postgres@127.0.0.1:5432/test?")
    assert "password=***" in shown

"""`change-connector run` drains a webhook delivery as soon as it is committed, not on the drain
timer: with the timer set to an hour, the sandbox's webhooks for edited tickets are all drained
(and the edits synced) long before the timer could have fired, on SQLite and PostgreSQL; and on
PostgreSQL also when another process took the deliveries in (its NOTIFY wakes the worker)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from store_fixtures import BACKENDS, database
from sync_helpers import running_sandbox
from test_run_service import (
    JIRA,
    SNOW,
    Samples,
    _edit,
    free_port,
    scrape,
    service_config,
    start_run,
    stop_run,
    total,
    wait_for,
)

from connector.sandbox import Sandbox

#: The drain timer of the worker under test: nothing in this test waits anywhere near as long.
TIMER_SECONDS = 3600


@pytest.fixture(name="wired")
def fixture_wired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, int]]:
    """A fresh sandbox per test: the edits must change the tickets (a repeated edit does not)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/webhooks"
    with running_sandbox(
        tmp_path_factory.mktemp("run-wakeup"),
        seed_count=6,
        random_seed=11,
        jira_webhook_url=f"{base}/jira/{JIRA}",
        servicenow_webhook_url=f"{base}/servicenow/{SNOW}",
        webhook_secret="run-wakeup-webhook-secret",
    ) as box:
        yield box, port


def hour_timer(config: Path) -> Path:
    text_ = config.read_text()
    config.write_text(
        text_.replace("drain_interval_seconds = 1", f"drain_interval_seconds = {TIMER_SECONDS}", 1)
    )
    return config


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_delivery_is_drained_without_the_timer(
    wired: tuple[Sandbox, int], tmp_path: Path, backend: str
) -> None:
    sandbox, port = wired
    with database(backend, tmp_path) as url:
        config = hour_timer(service_config(tmp_path, sandbox.info, store_url=url, port=port))
        log_path = tmp_path / "run.log"
        with log_path.open("w") as log:
            started = time.monotonic()
            proc = start_run(config, log)
            try:
                wait_for("the start-up polls", lambda: log_path.read_text().count("poll ") >= 2)
                edited = _edit(sandbox.info, sandbox)

                def drained() -> Samples | None:
                    if not sandbox.webhooks.wait_idle(5):
                        return None
                    samples = scrape(port)
                    accepted = total(samples, "change_connector_webhooks_total", result="accepted")
                    done = total(samples, "change_connector_deliveries_drained_total")
                    synced = total(samples, "change_connector_tickets_synced_total", path="webhook")
                    depth = total(samples, "change_connector_inbox_depth")
                    ready = accepted > 0 and done == accepted and depth == 0 and synced >= edited
                    return samples if ready else None

                samples = wait_for("the deliveries drained", drained, timeout=120)
                elapsed = time.monotonic() - started
            finally:
                code = stop_run(proc)
    err = log_path.read_text()
    assert code == 0, err
    assert "Traceback" not in err
    # The timer's only run was the one at start-up, before any delivery: every drained delivery
    # was drained by a wake-up.
    assert elapsed < TIMER_SECONDS
    assert total(samples, "change_connector_deliveries_drained_total", result="done") >= edited
    assert "drain: " in err


#: The webhook intake alone, as another process serving it would run it: it never drains.
INTAKE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import uvicorn
    from connector.serve.metrics import Metrics
    from connector.serve.webhooks import build_app
    from connector.settings import load_settings
    from connector.store import Store

    settings = load_settings(Path(sys.argv[1]))
    store = Store.open(settings.store_url.get_secret_value())
    app = build_app(settings, store, Metrics())
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


COUNT_INBOX = text("SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM inbox")


def test_a_delivery_another_process_took_in_wakes_the_worker_on_postgresql(
    wired: tuple[Sandbox, int], tmp_path: Path
) -> None:
    sandbox, port = wired
    with database("postgresql", tmp_path) as url:
        # the sandbox posts to the intake process; the worker listens on a port of its own
        config = hour_timer(service_config(tmp_path, sandbox.info, store_url=url, port=0))
        engine = create_engine(url)
        log_path = tmp_path / "run.log"
        with log_path.open("w") as log:
            intake = subprocess.Popen(
                [sys.executable, "-c", INTAKE, str(config), str(port)], stderr=log, text=True
            )
            proc = start_run(config, log)
            try:
                wait_for("the start-up polls", lambda: log_path.read_text().count("poll ") >= 2)
                edited = _edit(sandbox.info, sandbox)

                def drained() -> tuple[int, int] | None:
                    if not sandbox.webhooks.wait_idle(5):
                        return None
                    with engine.connect() as conn:
                        rows, done = conn.execute(
                            text(
                                "SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM inbox"
                            )
                        ).one()
                    return (rows, done) if rows >= edited and done == rows else None

                rows, done = wait_for("the deliveries drained", drained, timeout=120)
            finally:
                code = stop_run(proc)
                intake.terminate()
                intake.wait(timeout=60)
                engine.dispose()
    err = log_path.read_text()
    assert code == 0, err
    assert "Traceback" not in err
    assert {d.status for d in sandbox.webhooks.delivered} == {202}  # the intake took them all
    assert done == rows >= edited
    # drained by the worker (the intake process never drains), well before its timer's next run
    assert "drain: " in err

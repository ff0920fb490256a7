"""The running worker's telemetry, pure: skip messages become bounded reasons, poll and drain
results move the right counters, a write's log line names key, action and outcome only, the
start-up line names address, sources and store, and a store URL's password is its only secret."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from loguru import logger
from pydantic import SecretStr
from site_fields import jira_default_mapping

from connector.commands import log
from connector.core.errors import SkipRecord
from connector.core.gate import Gate
from connector.core.mapping import normalize
from connector.core.model import Source, SystemKind
from connector.core.planner import Action, ActionKind
from connector.core.skips import FIELD, INVALID, NO_IDENTITY, REASONS, STATUS, reason_of
from connector.serve.telemetry import Telemetry, bound_address, startup_line
from connector.settings import Settings
from connector.sync.drain import DrainStats
from connector.sync.poller import PollStats
from connector.sync.runtime import SourceRuntime

ROOT = Path(__file__).resolve().parents[2]
ISSUE = ROOT / "tests" / "fixtures" / "mapping" / "jira_issue_v2.json"
CLOUD = Source(instance="jira-cloud", kind=SystemKind.JIRA_CLOUD)


def skip_message(edit: dict[str, Any]) -> str:
    """The message normalize() gives the fixture issue after `edit` (None values delete)."""
    issue = json.loads(ISSUE.read_text(encoding="utf-8"))
    for path, value in edit.items():
        node, *rest = path.split(".")
        target = issue if not rest else issue[node]
        name = rest[0] if rest else node
        if value is None:
            del target[name]
        else:
            target[name] = value
    with pytest.raises(SkipRecord) as caught:
        normalize(issue, mapping=jira_default_mapping(), source=CLOUD, base_url="https://j.example")
    return str(caught.value)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"key": None}, NO_IDENTITY),
        ({"fields.customfield_10116": "next tuesday"}, FIELD),
        ({"fields.reporter": {"displayName": "Nobody"}}, FIELD),
        ({"fields.status": {"name": "Limbo"}}, STATUS),
        ({"fields.customfield_10117": "2026-11-20T10:00:00.000+0100"}, INVALID),
    ],
)
def test_normalize_messages_map_to_bounded_reasons(edit: dict[str, Any], reason: str) -> None:
    assert reason_of(skip_message(edit)) == reason


def test_an_unknown_message_is_other_never_itself() -> None:
    assert reason_of("something else entirely") == "other"
    assert set(REASONS) >= {reason_of(m) for m in ("", "a: b", "x: fields.y (z): w")}


def sample(t: Telemetry, name: str, **labels: str) -> float | None:
    return t.metrics.registry.get_sample_value(name, labels)


def test_a_poll_moves_tickets_skips_and_polls() -> None:
    t = Telemetry()
    status = "CHG-9: status (status): value 'Limbo' is not in the map (add it to status.map)"
    t.polled(PollStats(source="s", seen=5, changed=2, skipped=[status]), seconds=1.5)
    tickets = "change_connector_tickets_synced_total"
    assert sample(t, tickets, source="s", path="poll", outcome="changed") == 2
    assert sample(t, tickets, source="s", path="poll", outcome="unchanged") == 2
    skipped = "change_connector_tickets_skipped_total"
    assert sample(t, skipped, source="s", path="poll", reason=STATUS) == 1
    assert sample(t, "change_connector_polls_total", source="s", result="ok") == 1
    t.polled(PollStats(source="s", polled=False), seconds=0.1)
    assert sample(t, "change_connector_polls_total", source="s", result="busy") == 1


def test_a_drain_batch_moves_webhook_counters_and_logs_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log.setup()
    t = Telemetry()
    before = t.writes.copy()
    t.writes.update({"written": 2, "failed": 1, "held": 4})
    stats = DrainStats(claimed=7, tickets=3, changed=1, failed=2)
    stats.synced.update({("s", "changed"): 1, ("s", "unchanged"): 2})
    stats.skips.update({("s", "out_of_scope"): 1})
    t.drained(stats, seconds=0.25, writes_before=before)
    tickets = "change_connector_tickets_synced_total"
    assert sample(t, tickets, source="s", path="webhook", outcome="changed") == 1
    assert sample(t, tickets, source="s", path="webhook", outcome="unchanged") == 2
    skipped = "change_connector_tickets_skipped_total"
    assert sample(t, skipped, source="s", path="webhook", reason="out_of_scope") == 1
    assert sample(t, "change_connector_deliveries_drained_total", result="done") == 5
    assert sample(t, "change_connector_deliveries_drained_total", result="failed") == 2
    err = capsys.readouterr().err
    assert "drain: 7 deliveries, 3 tickets (1 changed, 1 skipped), 3 actions (2 written, 1 " in err
    t.drained(DrainStats(), seconds=0.01, writes_before=t.writes.copy())
    assert capsys.readouterr().err == ""  # an empty claim every few seconds says nothing


def action(kind: ActionKind, **extra: Any) -> Action:
    return Action(
        kind=kind,
        source="acme-jira",
        ticket_key="CHG-7",
        native_id="10007",
        purpose="findings" if kind is ActionKind.NOTE else kind.value,
        content_fingerprint="f" * 64,
        idempotency_key="k" * 64,
        marker="m",
        **extra,
    )


def test_a_write_is_counted_and_logged_without_its_content(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log.setup()
    t = Telemetry()
    t.write(action(ActionKind.NOTE, body="Customer data: the VPN password is hunter2"), "written")
    t.write(action(ActionKind.TRANSITION, steps=("approve", "schedule")), "failed")
    actions = "change_connector_actions_total"
    assert sample(t, actions, source="acme-jira", kind="note", result="written") == 1
    assert sample(t, actions, source="acme-jira", kind="transition", result="failed") == 1
    err = capsys.readouterr().err
    assert "write acme-jira CHG-7: note findings -> written" in err
    assert "write acme-jira CHG-7: transition approve,schedule -> failed" in err
    assert "hunter2" not in err and "Customer data" not in err


def runtime(kind: SystemKind, gate: Gate | None = None) -> SourceRuntime:
    return cast(
        SourceRuntime, SimpleNamespace(adapter=SimpleNamespace(kind=kind), gate=gate or Gate())
    )


def test_start_up_line() -> None:
    line = startup_line(
        address=bound_address("::1", 8443),
        runtimes={
            "a": runtime(SystemKind.JIRA_DATACENTER),
            "b": runtime(
                SystemKind.SERVICENOW,
                Gate(mode="observe", act_after=datetime(2026, 12, 1, tzinfo=UTC)),
            ),
        },
        store_url="postgresql+psycopg://cc:***@db:5432/cc",
    )
    assert line == (
        "change-connector run: listening on http://[::1]:8443; sources: "
        "a (system=jira, deployment=datacenter, mode=enforce); "
        "b (system=servicenow, mode=observe, act_after=2026-12-01T00:00:00+00:00); "
        "store: postgresql+psycopg://cc:***@db:5432/cc"
    )
    assert "webhooks not served" in startup_line(address=None, runtimes={}, store_url="x")


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("sqlite:////var/lib/cc/change-connector.db", []),
        ("postgresql+psycopg://cc@db/cc", []),
        ("postgresql+psycopg://cc:s3cret-pw@db/cc", ["s3cret-pw"]),
        ("postgresql+psycopg://cc:p%40ss-word@db/cc", ["p%40ss-word", "p@ss-word"]),
        ("postgresql+psycopg://cc@db/cc?sslmode=require&password=q-pass-1", ["q-pass-1"]),
    ],
)
def test_a_store_urls_secret_is_its_password(url: str, secrets: list[str]) -> None:
    assert sorted(log.url_secrets(url)) == sorted(secrets)
    settings = Settings(store_url=SecretStr(url))
    assert sorted(log.secrets_of(settings)) == sorted(secrets)


def test_the_masked_password_never_reaches_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://cc:s3cret-pw@db/cc"
    log.setup(secrets=log.secrets_of(Settings(store_url=SecretStr(url))))
    logger.info("could not reach {}", url)
    assert "could not reach postgresql+psycopg://cc:********@db/cc" in capsys.readouterr().err


def test_counters_of_one_worker_do_not_leak_into_another() -> None:
    first, second = Telemetry(), Telemetry()
    first.write(action(ActionKind.LABEL, label="x"), "written")
    name = "change_connector_actions_total"
    labels = {"source": "acme-jira", "kind": "label", "result": "written"}
    assert first.metrics.registry.get_sample_value(name, labels) == 1
    assert second.metrics.registry.get_sample_value(name, labels) is None
    assert Counter(first.writes) == {"written": 1}


def test_a_drain_without_sources_takes_nothing() -> None:
    from connector.sync.drain import drain

    assert drain({}, worker="w", batch=10, lease_seconds=30) == DrainStats()

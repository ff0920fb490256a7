"""Onboarding without surprises, over the real CLI and the embedded sandbox: a source in observe
mode reads, evaluates, records, reports and plans but writes nothing to any ticket on any path
(poll sync, webhook drain, `cab decide`, `release-notes --post`); switched to enforce it acts
once; `act_on_changes_updated_after` keeps old changes untouched; a scope that matches nothing
is warned about by `sync` and `status`."""

from __future__ import annotations

import json
import re
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from policy_helpers import JiraOps
from sync_helpers import (
    WRITE_METHODS,
    cli,
    cli_process,
    request_log,
    reset_log,
    running_sandbox,
    write_config,
)

from connector.commands.worker_commands import open_store
from connector.core.model import Change
from connector.sandbox import SandboxInfo
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import Planted
from connector.serve.worker import Worker
from connector.settings import load_settings

COUNT = 30
RANDOM_SEED = 2


def writes(info: SandboxInfo) -> list[str]:
    """Every POST/PUT/PATCH/DELETE the connector's user sent to the ticket APIs (searches, which
    Jira takes as POST, are reads)."""
    return [
        f"{r['method']} {r['path']}"
        for r in request_log(info)
        if r["method"] in WRITE_METHODS
        and r["user"] == "connector"
        and not r["path"].rstrip("/").endswith(("/search", "/search/jql"))
    ]


def stored_status(config: Path, source: str) -> dict[str, str]:
    settings = load_settings(config)
    with closing(open_store(settings, appends=False)) as store:
        return {
            (c := Change.from_json(row.data)).key: c.status.value
            for row in store.iter_stored(source)
        }


def test_observe_writes_nothing_on_any_path_then_enforce_acts_once(tmp_path: Path) -> None:
    seeds = generate(COUNT, random_seed=RANDOM_SEED)
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        info = box.info
        ops = JiraOps(box, seeds)
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        config = with_board(
            write_config(tmp_path / "c.toml", info, store_url=store_url, mode="observe")
        )
        unauthorized = ops.key(ops.planted[Planted.UNAUTHORIZED])
        unauthorized_id = ops.issue(ops.planted[Planted.UNAUTHORIZED])["id"]

        # The webhook drain, before anything is stored: the ticket is read, evaluated, recorded.
        settings = load_settings(config)
        with closing(open_store(settings)) as store, closing(Worker(settings, store)) as worker:
            worker.open()
            store.inbox_add(
                source="sandbox-jira", delivery_id="d-1", ticket_key=unauthorized, body="{}"
            )
            drained = worker.drain_once()
            assert drained.tickets == 1 and drained.written == 0
            assert store.count_changes("sandbox-jira") == 1

        sync = cli("sync", "--once", "--config", str(config))
        assert sync.returncode == 0, sync.stderr
        assert "sources.sandbox-jira: mode = observe:" in sync.stderr
        assert "sources.sandbox-servicenow: mode = observe:" in sync.stderr

        plan = cli("plan", "--json", "--config", str(config))
        assert plan.returncode == 0, plan.stderr
        rows = json.loads(plan.stdout)
        assert len(rows) == 2 * COUNT  # every ticket of both sources evaluated and planned
        assert all(not r["actions"] for r in rows)
        held = {(r["source"], r["key"]): r["withheld"] for r in rows}
        assert held[("sandbox-jira", unauthorized)], "the plan shows what enforce would do"
        assert all(
            w["reason"] == "observe mode: nothing is written to tickets"
            for ws in held.values()
            for w in ws
        )
        withheld_total = sum(len(ws) for ws in held.values())
        assert withheld_total > COUNT
        # The sync's line counts each ticket's withheld writes once, however often the cycle
        # evaluated it (the webhook drain's ticket, evaluated again by the scan, among them).
        for source in ("sandbox-jira", "sandbox-servicenow"):
            said = re.search(rf"sources\.{source}: mode = observe: (\d+) planned", sync.stderr)
            assert said, sync.stderr
            assert int(said.group(1)) == sum(len(ws) for (s, _), ws in held.items() if s == source)

        status = cli("status", "--json", "--config", str(config))
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert [(s["source"], s["mode"], s["changes_stored"]) for s in data["sources"]] == [
            ("sandbox-jira", "observe", COUNT),
            ("sandbox-servicenow", "observe", COUNT),
        ]
        assert data["actions"] == [] and data["warnings"] == []
        report = cli_process(
            "report", "--since", "2026-01-01", "--format", "json", "--config", str(config)
        )
        assert report.returncode == 0, report.stderr
        changes = json.loads(report.stdout)["changes"]
        assert len(changes) == 2 * COUNT

        # cab decide: the decision is recorded; its note and the moves are withheld.
        before = stored_status(config, "sandbox-jira")
        waiting = sorted(k for k, s in before.items() if s == "awaiting-approval")
        assert waiting
        decide = cli_process(
            "cab", "decide", waiting[0], "--decision", "approve", "--by", "carol",
            "--source", "sandbox-jira", "--config", str(config),
        )  # fmt: skip
        assert decide.returncode == 0, decide.stderr
        assert "nothing written to the ticket: observe mode" in decide.stdout

        release = next(s.release for s in seeds if s.release)
        post = cli_process("release-notes", "--release", release, "--post", "--config", str(config))
        assert post.returncode == 0, post.stderr
        assert "0 write(s) to tickets" in post.stdout

        assert writes(info) == [], "observe mode wrote to a ticket"

        # Enforce: every stored change is evaluated again once, and what was withheld is done.
        with_board(write_config(tmp_path / "c.toml", info, store_url=store_url, mode="enforce"))
        first = cli("sync", "--once", "--config", str(config))
        assert first.returncode == 0, first.stderr
        done = writes(info)
        assert any(f"/issue/{unauthorized_id}/" in w for w in done), done[:10]
        assert len(done) >= 2 * COUNT // 2
        assert "mode = observe" not in first.stderr

        reset_log(info)
        again = cli("sync", "--once", "--config", str(config))
        assert again.returncode == 0, again.stderr
        assert writes(info) == [], "a second enforce sync wrote again"


def test_act_after_today_writes_only_to_changes_updated_since(tmp_path: Path) -> None:
    seeds = generate(COUNT, random_seed=RANDOM_SEED)
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        info = box.info
        ops = JiraOps(box, seeds)
        today = datetime.now(UTC).date().isoformat()
        config = write_config(
            tmp_path / "c.toml",
            info,
            store_url=f"sqlite:///{tmp_path / 'store.db'}",
            act_on_changes_updated_after=today,
        )
        # Every seeded change was last updated before today; this one is edited now.
        touched = ops.planted[Planted.UNAUTHORIZED]
        ops.edit_title(touched, "Share exports with the analytics vendor (edited)", user="alice")
        key = ops.key(touched)
        issue_id = ops.issue(touched)["id"]
        reset_log(info)

        sync = cli("sync", "--once", "--config", str(config))
        assert sync.returncode == 0, sync.stderr
        done = writes(info)
        assert done, "the change updated today was acted on"
        assert all(key in w or f"/{issue_id}/" in w or w.endswith(f"/{issue_id}") for w in done), [
            w for w in done if key not in w
        ][:5]

        plan = cli("plan", "--json", "--config", str(config))
        rows = json.loads(plan.stdout)
        old = [r for r in rows if r["withheld"]]
        assert old and all(
            "before act_on_changes_updated_after" in w["reason"] for r in old for w in r["withheld"]
        )
        assert all(r["key"] != key for r in old)


def test_a_scope_that_matches_nothing_is_warned_about(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, seed_count=5, random_seed=RANDOM_SEED) as box:
        config = write_config(
            tmp_path / "c.toml", box.info, store_url=f"sqlite:///{tmp_path / 'store.db'}"
        )
        config.write_text(
            config.read_text() + '\n[policy.scope.sandbox-jira]\njql = "labels = no-such-label"\n'
        )
        sync = cli("sync", "--once", "--config", str(config))
        assert sync.returncode == 0, sync.stderr
        warning = (
            "warning: sources.sandbox-jira: its scope matched no ticket (jql: project in "
            '("CHG", "OPS") AND issuetype in ("Change") AND ((labels = no-such-label)))'
        )
        assert warning in sync.stderr
        assert "sources.sandbox-servicenow" not in sync.stderr
        status = cli("status", "--config", str(config))
        assert status.returncode == 0, status.stderr
        assert warning in status.stderr
        data = json.loads(cli("status", "--json", "--config", str(config)).stdout)
        assert len(data["warnings"]) == 1 and data["warnings"][0].startswith(warning)


def with_board(config: Path) -> Path:
    """The config with carol on the change advisory board (`cab decide --by` must be one)."""
    config.write_text(config.read_text() + '\n[policy.approvals]\ncab_members = ["carol"]\n')
    return config

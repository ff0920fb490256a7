"""Every failure and skip visible, over the real CLI and the embedded sandbox: a write that fails
in `cab decide` exits non-zero naming the ticket and the system's reason, `status` (and
`status --json`) lists it with its attempts, the next `sync` fails the same way; `explain` gives
the rule and the reason of every planted exception of the sandbox scenario on one screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from policy_helpers import JiraOps, ServiceNowOps
from sync_helpers import cli, cli_process, running_sandbox, write_config

from connector.commands.worker_commands import open_store
from connector.core.model import Change
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import FREEZE_END, FREEZE_START, Planted
from connector.settings import load_settings

COUNT = 30
RANDOM_SEED = 2
SCREEN = 50  # lines

# The rule each planted exception must be reported under.
EXPECTED = {
    Planted.SELF_APPROVAL: "separation-of-duties",
    Planted.UNAUTHORIZED: "unauthorized",
    Planted.FREEZE_VIOLATION: "freeze",
    Planted.OVERDUE_EMERGENCY_REVIEW: "emergency-review-overdue",
    Planted.CONFLICT_A: "schedule-conflict",
    Planted.CONFLICT_B: "schedule-conflict",
}
DECLINE = "transition 'Decline' is not available from status 'Needs Information'"


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    tmp = tmp_path_factory.mktemp("visibility")
    with running_sandbox(tmp, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        config = write_config(
            tmp / "config.toml", box.info, store_url=f"sqlite:///{tmp / 'store.db'}"
        )
        config.write_text(
            config.read_text() + '\n[policy.approvals]\ncab_members = ["carol"]\n'
            '\n[[policy.freezes]]\nname = "Year-end"\n'
            f"start = {FREEZE_START.isoformat()}\nend = {FREEZE_END.isoformat()}\n"
        )
        result = cli("sync", "--once", "--config", str(config))
        assert result.returncode == 0, result.stderr
        yield box, config


def test_a_failed_transition_in_cab_decide_exits_non_zero_and_status_lists_it(
    synced: tuple[Sandbox, Path],
) -> None:
    _, config = synced
    settings = load_settings(config)
    with closing(open_store(settings, appends=False)) as store:
        changes = [Change.from_json(row.data) for row in store.iter_stored("sandbox-jira")]
    waiting = [c for c in changes if c.status.value == "awaiting-approval"]
    key = sorted(c.key for c in waiting if c.change_class == "major")[0]
    c = ("--source", "sandbox-jira", "--config", str(config))
    more = cli("cab", "decide", key, "--decision", "more-info", "--by", "carol", *c)
    assert more.returncode == 0, more.stderr  # moved to Needs Information

    reject = cli("cab", "decide", key, "--decision", "reject", "--by", "carol", *c)
    assert reject.returncode == 1, reject.stdout + reject.stderr
    line = reject.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    assert line.startswith("error: 1 write(s) to tickets failed: ")
    assert f"sandbox-jira {key}: transition failed: " in line and DECLINE in line

    status = cli("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert "Actions not applied (1)" in status.stdout and key in status.stdout
    data = json.loads(cli("status", "--json", "--config", str(config)).stdout)
    [failed] = [a for a in data["actions"] if a["ticket"] == key]
    assert failed["action"] == "transition" and failed["state"] == "failed"
    assert failed["attempts"] == 1 and DECLINE in failed["reason"]

    # The next sync tries again, fails again, and says so.
    sync = cli("sync", "--once", "--config", str(config))
    assert sync.returncode == 1, sync.stdout + sync.stderr
    assert f"sandbox-jira {key}: transition failed: " in sync.stderr and DECLINE in sync.stderr
    data = json.loads(cli("status", "--json", "--config", str(config)).stdout)
    [failed] = [a for a in data["actions"] if a["ticket"] == key]
    assert failed["attempts"] == 2  # once by cab decide, once by the cycle (not once a step)

    explained = json.loads(cli_process("explain", key, "--json", *c).stdout)
    assert [e["reason"] for e in explained["ledger"] if e["state"] == "failed"] == [
        failed["reason"]
    ]

    # A decision on another ticket that writes fine succeeds: the failure is not its own.
    other = sorted(c.key for c in changes if c.key != key)[0]
    decided = cli("cab", "decide", other, "--decision", "defer", "--by", "carol", *c)
    assert decided.returncode == 0, decided.stdout + decided.stderr
    assert key not in decided.stdout + decided.stderr


def test_explain_gives_the_rule_and_reason_of_every_planted_exception(
    synced: tuple[Sandbox, Path],
) -> None:
    box, config = synced
    seeds = generate(COUNT, random_seed=RANDOM_SEED)
    for ops in (JiraOps(box, seeds), ServiceNowOps(box, seeds)):
        for planted, rule in EXPECTED.items():
            key = ops.key(ops.planted[planted])
            c = ("--source", ops.name, "--config", str(config))
            text = cli("explain", key, *c)
            assert text.returncode == 0, text.stderr
            lines = text.stdout.splitlines()
            assert len(lines) <= SCREEN and all(len(line) < 400 for line in lines)
            data = json.loads(cli("explain", key, "--json", *c).stdout)
            verdicts = {r["rule"]: r for r in data["rules"]}
            # Open now, or raised and resolved since (an unauthorized start the worker reverted).
            verdict = verdicts[rule]["verdict"]
            assert verdict in ("block", "warn", "resolved"), (ops.name, planted, verdicts)
            reason = verdicts[rule]["reason"]
            if verdict == "resolved":
                assert reason.startswith("resolved 20") and len(reason) > 40, reason
            assert reason and f"[{rule}] {verdict}: {reason}" in text.stdout
            assert data["change"]["key"] == key and data["history"]
            assert data["history"][0]["event"] == "ticket.synced"


def test_explain_names_what_was_not_counted_and_why(synced: tuple[Sandbox, Path]) -> None:
    box, config = synced
    ops = JiraOps(box, generate(COUNT, random_seed=RANDOM_SEED))
    key = ops.key(ops.planted[Planted.SELF_APPROVAL])
    data = json.loads(
        cli("explain", key, "--json", "--source", "sandbox-jira", "--config", str(config)).stdout
    )
    why = [a["why"] for a in data["approvals"]["not_counted"]]
    assert any(w.startswith("the approver is the change's ") for w in why), data["approvals"]


def test_explain_of_an_unknown_ticket_is_one_line(synced: tuple[Sandbox, Path]) -> None:
    _, config = synced
    result = cli("explain", "CHG-999", "--source", "sandbox-jira", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: CHG-999: not in the store of source sandbox-jira (run `sync` first)"
    )


def test_status_lists_skipped_tickets_with_their_reasons(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    mapping = tmp_path / "jira.toml"
    text = (root / "mappings/jira-default.toml").read_text()
    assert ', "Declined" = "rejected"' in text
    mapping.write_text(text.replace(', "Declined" = "rejected"', ""))
    seeds = generate(COUNT, random_seed=RANDOM_SEED)
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        ops = JiraOps(box, seeds)
        declined = sorted(ops.key(s) for s in seeds if s.status == "rejected")
        assert declined
        config = write_config(
            tmp_path / "c.toml", box.info, store_url=f"sqlite:///{tmp_path / 'store.db'}"
        )
        config.write_text(
            config.read_text().replace(str(root / "mappings/jira-default.toml"), str(mapping), 1)
        )
        sync = cli("sync", "--once", "--config", str(config))
        assert sync.returncode == 0, sync.stderr
        status = cli("status", "--config", str(config))
        assert status.returncode == 0, status.stderr
        assert f"Skipped tickets ({len(declined)})" in status.stdout
        data = json.loads(cli("status", "--json", "--config", str(config)).stdout)
        reason = "status (status): value 'Declined' is not in the map (add it to status.map)"
        assert sorted((s["ticket"], s["reason"]) for s in data["skipped"]) == [
            (key, reason) for key in declined
        ]

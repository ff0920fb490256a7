"""The policy's commands as people run them: `plan` (writes nothing), `cab agenda` (from the
store), `policy backtest` (a policy file replayed over stored changes), and their one-line
errors on bad input."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_helpers import cli, cli_process, reset_log, running_sandbox, ticket_writes, write_config

from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import FREEZE_END, FREEZE_START, Planted

COUNT = 40
RANDOM_SEED = 3


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    """A sandbox and a config whose store has been synced once."""
    tmp = tmp_path_factory.mktemp("policy-cli")
    with running_sandbox(tmp, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        config = write_config(
            tmp / "config.toml", box.info, store_url=f"sqlite:///{tmp / 'store.db'}"
        )
        with config.open("a") as f:
            f.write('\n[policy.approvals]\ncab_members = ["carol", "dave@example.com"]\n')
        result = cli("sync", "--once", "--config", str(config))
        assert result.returncode == 0, result.stderr
        yield box, config


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    for needle in needles:
        assert needle in line, line


def test_plan_prints_what_the_policy_would_do_and_writes_nothing(
    synced: tuple[Sandbox, Path],
) -> None:
    sandbox, config = synced
    reset_log(sandbox.info)
    result = cli("plan", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert ticket_writes(sandbox.info) == []
    rows = json.loads(result.stdout)
    assert len(rows) == 2 * COUNT  # every in-scope ticket of both sources, evaluated
    by_key = {(r["source"], r["key"]): r for r in rows}
    unauthorized = [s for s in generate(COUNT, random_seed=RANDOM_SEED) if s.planted][1]
    assert unauthorized.planted is Planted.UNAUTHORIZED
    row = by_key[("sandbox-jira", "CHG-2")]
    assert "unauthorized" in {f["rule"] for f in row["findings"]}
    # Already synced: the worker has done what the policy asks, so nothing is left to do.
    assert all(not r["actions"] for r in rows), [r for r in rows if r["actions"]][:2]


def test_cab_agenda_lists_changes_waiting_for_the_board(
    synced: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    _, config = synced
    result = cli_process(
        "cab", "agenda", "--for", "2026-11-23", "--format", "json", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    agenda = json.loads(result.stdout)
    assert agenda["meeting"] == "2026-11-23"
    waiting = {(c["source"], c["key"]) for c in agenda["changes"]}
    expected = {
        ("sandbox-jira", key)
        for key, s in jira_keys(generate(COUNT, random_seed=RANDOM_SEED)).items()
        if s.change_class == "major"
        and s.change_type == "normal"
        and s.status in ("awaiting-approval", "awaiting-info")
        and not any(a.group == "CAB" and a.decision == "approved" for a in s.approvals)
        and not any(a.decision == "rejected" for a in s.approvals)
    }
    assert expected and expected <= waiting
    for change in agenda["changes"]:
        assert change["waiting_for"] and change["url"].startswith("https://")
    out = tmp_path / "agenda.md"
    md = cli("cab", "agenda", "--for", "2026-11-23", "--out", str(out), "--config", str(config))
    assert md.returncode == 0, md.stderr
    text = out.read_text()
    assert text.startswith("# CAB agenda for 2026-11-23")
    assert all(f"## {key}:" in text for _, key in expected)


def jira_keys(seeds: list) -> dict[str, object]:  # type: ignore[type-arg]
    from connector.sandbox.jira.seed import project_of

    counters: dict[str, int] = {}
    out = {}
    for s in seeds:
        project = project_of(s)
        counters[project] = counters.get(project, 0) + 1
        out[f"{project}-{counters[project]}"] = s
    return out


def test_backtest_counts_what_a_policy_file_would_have_blocked(
    synced: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    _, config = synced
    base = cli_process(
        "policy", "backtest", "--since", "2026-01-01", "--json", "--config", str(config)
    )
    assert base.returncode == 0, base.stderr
    before = json.loads(base.stdout)
    assert before["changes"] == 2 * COUNT
    assert "freeze" not in {r["rule"] for r in before["rules"]}
    policy = tmp_path / "freeze.toml"
    policy.write_text(
        '[policy]\ndisabled_rules = ["schedule-conflict"]\n'
        '[[policy.freezes]]\nname = "Year-end"\n'
        f"start = {FREEZE_START.isoformat()}\nend = {FREEZE_END.isoformat()}\n"
    )
    after_run = cli(
        "policy",
        "backtest",
        "--since",
        "2026-01-01",
        "--policy",
        str(policy),
        "--json",
        "--config",
        str(config),
    )
    assert after_run.returncode == 0, after_run.stderr
    after = json.loads(after_run.stdout)
    rules = {r["rule"]: r for r in after["rules"]}
    assert "schedule-conflict" not in rules
    in_freeze = sum(
        1
        for seed in (
            generate(COUNT, random_seed=RANDOM_SEED),
            generate(COUNT, random_seed=RANDOM_SEED + 1),
        )
        for s in seed
        if s.planned_start
        and s.planned_end
        and s.planned_start < FREEZE_END
        and s.planned_end > FREEZE_START
        and s.status not in ("rejected", "cancelled")
    )
    assert rules["freeze"]["changes"] == in_freeze > 0
    assert after["blocked"] >= before["blocked"]


def test_bad_input_is_one_line_with_exit_code_2(
    synced: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    _, config = synced
    c = ("--config", str(config))
    one_line_error(
        cli("cab", "decide", "CHG-1", "--decision", "maybe", "--by", "carol", *c),
        "--decision",
        "maybe",
    )
    one_line_error(
        cli("cab", "decide", "CHG-999", "--decision", "approve", "--by", "carol", *c),
        "CHG-999",
        "--source",
    )
    missing = ("cab", "decide", "CHG-999", "--decision", "approve", "--by", "carol")
    one_line_error(cli(*missing, "--source", "sandbox-jira", *c), "CHG-999", code=1)
    one_line_error(cli("policy", "backtest", "--since", "last week", *c), "--since")
    one_line_error(cli("cab", "agenda", "--format", "pdf", *c), "--format")
    bad = tmp_path / "bad-policy.toml"
    bad.write_text('[policy]\ndisabled_rules = ["no-such-rule"]\n')
    one_line_error(
        cli("policy", "backtest", "--since", "2026-01-01", "--policy", str(bad), *c),
        str(bad),
        "no-such-rule",
    )
    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text() + '\n[policy]\ntime_zone = "Mars/Olympus"\n')
    one_line_error(cli("check-config", "--config", str(broken)), "policy.time_zone", "Mars")


def test_cab_decide_by_someone_not_on_the_board_is_refused(synced: tuple[Sandbox, Path]) -> None:
    sandbox, config = synced
    reset_log(sandbox.info)
    decide = ("cab", "decide", "CHG-1", "--decision", "approve", "--source", "sandbox-jira")
    one_line_error(
        cli(*decide, "--by", "nobody-at-all", "--config", str(config)),
        "--by: 'nobody-at-all' is not a member of CAB",
        "cab_members",
    )
    bare = config.with_name("no-members.toml")
    bare.write_text(config.read_text().replace('cab_members = ["carol", "dave@example.com"]', ""))
    one_line_error(
        cli(*decide, "--by", "carol", "--config", str(bare)),
        "--by: 'carol' is not a board member",
        "policy.approvals.cab_members",
    )
    assert ticket_writes(sandbox.info) == []

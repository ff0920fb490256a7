"""What `plan` and `sync --dry-run` print, as a script and a person read it: machine output is
raw, valid JSON at any terminal width; plans come sorted by source and ticket key (then action),
each action with the rule ids that caused it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import cli as fork_cli
from sync_helpers import running_sandbox, ticket_writes, write_config

from connector.commands.plan_output import natural
from connector.sandbox import Sandbox

COUNT = 40
RANDOM_SEED = 3


def terminal(columns: int) -> dict[str, str]:
    return {**os.environ, "COLUMNS": str(columns), "FORCE_COLOR": "1"}


def cli(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    """`change-connector ARGS` forked from the command server, at a terminal this wide."""
    return fork_cli(*args, timeout=300, env=terminal(columns))


def cli_process(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    """`change-connector ARGS` through a new interpreter, at a terminal this wide."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=terminal(columns),
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("machine-output")
    with running_sandbox(tmp, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        yield box


@pytest.fixture
def config(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A config whose store has never synced: every ticket has something to do."""
    return write_config(
        tmp_path / "config.toml", sandbox.info, store_url=f"sqlite:///{tmp_path / 'store.db'}"
    )


def in_order(keys: list[tuple[str, str]]) -> bool:
    return keys == sorted(keys, key=lambda k: (k[0], natural(k[1])))


def test_dry_run_prints_valid_json_at_a_narrow_terminal(sandbox: Sandbox, config: Path) -> None:
    result = cli_process("sync", "--once", "--dry-run", "--config", str(config), columns=40)
    assert result.returncode == 0, result.stderr
    plans = json.loads(result.stdout)
    assert plans and all(p["actions"] for p in plans)
    assert in_order([(p["source"], p["ticket_key"]) for p in plans])
    assert {"idempotency_key", "kind", "steps"} <= set(plans[0]["actions"][0])
    assert "Dry run: nothing written" in result.stderr  # the summary is for people
    assert ticket_writes(sandbox.info) == []


def test_plan_json_is_valid_at_a_narrow_terminal_sorted_with_rule_ids(config: Path) -> None:
    result = cli("plan", "--json", "--config", str(config), columns=40)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(rows) == 2 * COUNT
    assert in_order([(r["source"], r["key"]) for r in rows])
    back = [
        (r, a)
        for r in rows
        for a in r["actions"]
        if a["kind"] == "transition" and a["steps"] == ["needs_info"]
    ]
    assert back  # the scenario has changes missing what their class needs
    for row, action in back:
        assert set(action["rules"]) & {"required-fields", "infosec-categories"}, row["key"]
    for row in rows:
        found = {f["rule"] for f in row["findings"]}
        for action in row["actions"]:
            assert set(action["rules"]) <= found, (row["key"], action["rules"])
            if action["purpose"] == "findings":
                assert set(action["rules"]) == found


def test_plan_text_is_sorted_by_source_and_key_with_the_rule_of_each_action(config: Path) -> None:
    result = cli("plan", "--config", str(config), columns=400)
    assert result.returncode == 0, result.stderr
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│") and "│ source" not in line
    ]
    rows = [r for r in rows if r[0]]  # continuation lines of a wrapped cell have no source
    assert len(rows) > 2 * COUNT  # one row per action
    assert in_order([(r[0], r[1]) for r in rows])
    needs_info = [r for r in rows if r[3] == "move: needs_info"]
    assert needs_info and all(
        {"required-fields", "infosec-categories"} & set(r[4].split(", ")) for r in needs_info
    )
    assert any(r[3].startswith("post note") or r[3].startswith("update note") for r in rows)

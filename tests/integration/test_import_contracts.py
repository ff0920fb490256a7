"""The layers' import contracts (pyproject's [tool.importlinter], run by `make lint`) hold on
the code, and break on a deliberately wrong import: each test lints a copy of the package with
one import added where the layering forbids it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "400"}  # one line per contract
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(name="tree")
def fixture_tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to add a wrong import to."""
    shutil.copytree(
        ROOT / "connector", tmp_path / "connector", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(tree: Path, module: str, line: str) -> None:
    path = tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_code_keeps_every_contract(tree: Path) -> None:
    run = lint_imports(tree)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (  # the pure core reaching into the shell
            "connector/core/planner.py",
            "from connector.sync import poller  # noqa: E402",
            "The core is pure",
        ),
        (  # the core using a client library
            "connector/core/model.py",
            "import requests  # noqa: E402",
            "The core is pure",
        ),
        (  # the sync shell importing a command
            "connector/sync/executor.py",
            "from connector.commands import cli  # noqa: E402",
            "Layers:",
        ),
        (  # the store talking to the ticket systems
            "connector/store/ledger.py",
            "from connector.systems import jira  # noqa: E402",
            "Layers:",
        ),
        (  # a cycle inside the policy package
            "connector/core/policy/config.py",
            "from connector.core.policy import rules  # noqa: E402",
            "No import cycles",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    add_import(tree, module, line)
    run = lint_imports(tree)
    assert run.returncode != 0
    broken = [x for x in run.stdout.splitlines() if " BROKEN" in x]
    assert any(x.startswith(contract) for x in broken), run.stdout

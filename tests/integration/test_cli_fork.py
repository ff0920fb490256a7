"""The command server the command-line tests fork from answers as `python -m connector` does:
the same exit status, standard output and standard error, the caller's environment and
working directory, and a status that says so when the command is killed or times out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sync_helpers import cli, cli_process


@pytest.mark.parametrize(
    "args",
    [
        ("version",),
        ("nonsense",),
        ("check-config", "--config", "/no/such/config.toml"),
        (),
    ],
)
def test_forked_command_answers_as_a_new_interpreter(args: tuple[str, ...]) -> None:
    forked, real = cli(*args, timeout=120), cli_process(*args, timeout=120)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )


def test_forked_command_takes_the_environment_and_directory_given(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('data_dir = "data"\n')
    env = {**os.environ, "CHANGE_CONNECTOR__STORE_URL": "bogus://nowhere"}
    args = ("check-config", "--config", "config.toml")  # relative: found in the directory given
    forked = cli(*args, cwd=tmp_path, env=env, timeout=120)
    real = subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )
    assert forked.returncode != 0 and "CHANGE_CONNECTOR__STORE_URL" in forked.stderr
    elsewhere = cli(*args, timeout=120)  # this process's directory: no such file there
    assert elsewhere.returncode == 2 and "no such config file" in elsewhere.stderr


def test_a_forked_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        cli("sandbox", "--port", "0", "--seed", "0", "--data-dir", str(tmp_path), timeout=3)
    assert cli("version", timeout=60).stdout.strip()  # the server answers the next call


def test_a_crash_in_native_code_prints_each_threads_stack() -> None:
    crash = (
        "import ctypes\n"
        "from connector.commands.cli import main\n"
        "try:\n"
        "    main(['version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "ctypes.string_at(0)\n"  # reads address 0: a segmentation fault
    )
    command = [sys.executable, "-c", crash]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in done.stderr
    assert "Current thread" in done.stderr and "string_at" in done.stderr

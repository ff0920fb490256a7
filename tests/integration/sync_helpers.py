"""Helpers for the sync worker's integration tests: a sandbox per test, a config for a worker
process, and counts of what the worker wrote to the tickets (read back from the sandbox)."""

from __future__ import annotations

import atexit
import collections
import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_fork import CliForkServer

from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions

ROOT = Path(__file__).resolve().parents[2]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@contextmanager
def running_sandbox(tmp: Path, **options: Any) -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxOptions(data_dir=tmp / "sandbox", **options))
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def write_config(
    path: Path, info: SandboxInfo, *, store_url: str, lease_seconds: float = 300.0, **source: Any
) -> Path:
    user = info.users["connector"]
    extra = "".join(
        f"{k} = {v!r}\n" if isinstance(v, str) else f"{k} = {v}\n" for k, v in source.items()
    )
    path.write_text(f"""
data_dir = "{path.parent / "data"}"
store_url = "{store_url}"

[worker]
lease_seconds = {lease_seconds}

[sources.sandbox-jira]
kind = "jira"
url = "{info.jira_url}"
username = "{user["jira_user"]}"
token = "{user["token"]}"
mapping = "{ROOT / "mappings/jira-default.toml"}"
ca_bundle = "{info.ca_bundle}"
{extra}
[sources.sandbox-servicenow]
kind = "servicenow"
url = "{info.servicenow_url}"
username = "{user["servicenow_user"]}"
token = "{user["token"]}"
mapping = "{ROOT / "mappings/servicenow-default.toml"}"
ca_bundle = "{info.ca_bundle}"
{extra}""")
    return path


def request_log(info: SandboxInfo) -> list[dict[str, Any]]:
    log = requests.get(info.requests_url, verify=info.ca_bundle, timeout=30).json()
    entries: list[dict[str, Any]] = log["requests"]
    return entries


def reset_log(info: SandboxInfo) -> None:
    requests.delete(info.requests_url, verify=info.ca_bundle, timeout=30)


def ticket_writes(info: SandboxInfo, *, user: str = "connector") -> list[str]:
    """Writes the given user made, as 'METHOD path': not the reads Jira takes as a POST
    (searches, comments by id, `POST /comment/list`, issues by id, `POST /issue/bulkfetch`)."""
    return [
        f"{r['method']} {r['path']}"
        for r in request_log(info)
        if r["method"] in WRITE_METHODS
        and r["user"] == user
        and "/search" not in r["path"]
        and not r["path"].endswith(("/comment/list", "/issue/bulkfetch"))
    ]


def jira_markers(sandbox: Sandbox) -> collections.Counter[tuple[str, str]]:
    """(issue key, marker) -> number of comments carrying it (in their own comment property,
    the ground truth of duplicates), read from the simulator."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    with sandbox.state.lock:
        for issue in sandbox.jira.store.issues.values():
            for comment in issue.comments:
                for prop in comment.properties:
                    value = prop.get("value")
                    if prop.get("key") == "change-connector" and isinstance(value, dict):
                        counts[(issue.key, str(value.get("marker")))] += 1
    return counts


def jira_marker_property(sandbox: Sandbox) -> dict[tuple[str, str], dict[str, Any]]:
    """(issue key, marker) -> its entry in the issue's `change-connector` marker property."""
    with sandbox.state.lock:
        return {
            (issue.key, marker): dict(entry)
            for issue in sandbox.jira.store.issues.values()
            for marker, entry in (issue.properties.get("change-connector") or {})
            .get("notes", {})
            .items()
        }


_TAG = re.compile(r"\[cc:([^\]]+)\]")


def servicenow_markers(sandbox: Sandbox, info: SandboxInfo) -> collections.Counter[tuple[str, str]]:
    """(change sys_id, marker) -> number of journal entries carrying it."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    response = requests.get(
        f"{info.servicenow_url}/api/now/table/sys_journal_field",
        params={"sysparm_query": "valueLIKE[cc:", "sysparm_limit": 100000},
        auth=info.credentials("admin", "servicenow"),
        verify=info.ca_bundle,
        timeout=60,
    )
    for row in response.json()["result"]:
        for tag in _TAG.findall(row["value"]):
            counts[(row["element_id"], tag)] += 1
    return counts


_FORK = CliForkServer()
atexit.register(_FORK.close)


def cli(
    *args: str,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`change-connector ARGS` in a process of its own (forked from a server that has the
    commands imported already), with this process's environment and working directory unless
    `env` / `cwd` say otherwise."""
    return _FORK.run(list(args), timeout=timeout, env=env, cwd=cwd)


def cli_process(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`change-connector ARGS` as a person or a job starts it: a new interpreter (`python -m
    connector`). Each command keeps at least one test through it."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=timeout
    )


def once_per_session(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """A directory `make` fills once per test session, shared by every test process.

    Under pytest-xdist each process has its own base temp directory inside one shared root; the
    first process to get here builds the directory under that root while holding a lock, and the
    others wait for it and reuse it. For outputs tests only read (a demo run, a seeded report).
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    done = root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        work = root / name
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            make(work)
            done.touch()
    return work

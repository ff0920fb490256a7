"""Jira calls of one sync, then of a sync on a lost database, per deployment type.

A fresh sandbox, the Jira source only, as the integration user. The second sync starts from an
empty store: every note is planned again and must be found on the ticket (its marker), not
written again. Prints, per sync, the calls the worker made grouped by method and endpoint
(`{key}` and `{id}` stand for issue keys and ids), and the writes.

    .venv/bin/python bench/jira_calls.py            # 200 seeded changes, Cloud and Data Center
    .venv/bin/python bench/jira_calls.py --count 1000 --mode cloud
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

import requests

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store


def _kind(entry: dict[str, Any]) -> str:
    path = entry["path"].split("?")[0].replace("/jira/rest/api/2/", "/")
    path = re.sub(r"/(?:[A-Z][A-Z0-9_]+-\d+|\d+)(?=/|$)", "/{id}", path)
    return f"{entry['method']} {path}"


def _log(info: SandboxInfo) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = requests.get(
        info.requests_url, verify=info.ca_bundle, timeout=60
    ).json()["requests"]
    return [e for e in entries if e["system"] == "jira"]


def measure(mode: Literal["cloud", "datacenter"], count: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    options = SandboxOptions(data_dir=tmp / "sandbox", seed_count=count, random_seed=5, mode=mode)
    box = Sandbox(options)
    box.start()
    try:
        info = box.info
        sources = {k: v for k, v in sandbox_sources(info).items() if v.kind == "jira"}
        for run in ("first sync", "lost database"):
            requests.delete(info.requests_url, verify=info.ca_bundle, timeout=60)
            store = Store.open(f"sqlite:///{tmp}/{run.replace(' ', '-')}.db")
            worker = Worker(Settings(sources=sources), store, name="bench")
            with closing(store), closing(worker.open()) as w:
                written = sum(s.written for s in w.sync_once())
            calls = _log(info)
            kinds = dict(collections.Counter(_kind(e) for e in calls).most_common())
            print(f"{mode} {run}: {len(calls)} calls, {written} writes: {kinds}")
    finally:
        box.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="seeded changes")
    parser.add_argument("--mode", choices=("cloud", "datacenter"), action="append")
    args = parser.parse_args()
    for mode in args.mode or ("cloud", "datacenter"):
        measure(mode, args.count)


if __name__ == "__main__":
    main()

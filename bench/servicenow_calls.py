"""ServiceNow calls of one sync: a fresh sandbox, the ServiceNow source only, two passes.

Prints, per pass, the number of Table API calls the worker made as the integration user,
grouped by method and table (`{id}` stands for a sys_id), and the number of writes.

    .venv/bin/python bench/servicenow_calls.py            # 200 seeded changes
    .venv/bin/python bench/servicenow_calls.py --count 1000
"""

from __future__ import annotations

import argparse
import collections
import re
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import requests

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store


def _kind(entry: dict[str, Any]) -> str:
    path = re.sub(r"[0-9a-f]{32}", "{id}", entry["path"].split("?")[0])
    return f"{entry['method']} {path.replace('/servicenow/api/now/table/', '')}"


def _log(info: SandboxInfo) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = requests.get(
        info.requests_url, verify=info.ca_bundle, timeout=60
    ).json()["requests"]
    return [e for e in entries if "/servicenow/" in e["path"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="seeded changes")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    box = Sandbox(SandboxOptions(data_dir=tmp / "sandbox", seed_count=args.count, random_seed=5))
    box.start()
    try:
        info = box.info
        sources = {k: v for k, v in sandbox_sources(info).items() if v.kind == "servicenow"}
        store = Store.open(f"sqlite:///{tmp}/store.db")
        worker = Worker(Settings(sources=sources), store, name="bench")
        with closing(store), closing(worker.open()) as w:
            for n in (1, 2):
                requests.delete(info.requests_url, verify=info.ca_bundle, timeout=60)
                written = sum(s.written for s in w.sync_once())
                calls = _log(info)
                kinds = collections.Counter(_kind(e) for e in calls).most_common()
                print(f"pass {n}: {len(calls)} calls, {written} writes: {dict(kinds)}")
    finally:
        box.stop()


if __name__ == "__main__":
    main()

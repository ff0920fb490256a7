"""The peer for `sync_bench.py --compare-tap-jira`: singer-io's tap-jira 2.6.0, unmodified.

Installs tap-jira into its own virtual environment (pip, from the configured package index)
under a cache directory, once; then configures it against the sandbox's Jira Cloud over HTTPS
(basic auth: the connector user's e-mail and API token, as tap-jira takes them for a site of its
own) with a catalog that selects the `issues` stream alone, and runs it as its own process.

Trusting the sandbox's CA: tap-jira sends every call through `requests.Session.send`, which,
unlike `Session.request`, never reads `REQUESTS_CA_BUNDLE` from the environment. A
`sitecustomize` module on the tap's PYTHONPATH (its process only) gives each of its sessions the
`verify` that `Session.request` would have taken from `REQUESTS_CA_BUNDLE`; the tap's own code
and its dependencies stay as pip installed them, and verification stays on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VERSION = "2.6.0"
DEFAULT_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "change-connector-bench"
    / f"tap-jira-{VERSION}"
)

SITECUSTOMIZE = '''"""Sessions verify with REQUESTS_CA_BUNDLE (Session.send ignores it)."""
import os

import requests

_init = requests.Session.__init__


def _init_with_bundle(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.verify = os.environ.get("REQUESTS_CA_BUNDLE", True)


requests.Session.__init__ = _init_with_bundle
'''


def install(venv: Path) -> Path:
    """The tap-jira executable, installed into `venv` first if it is not there yet."""
    exe = venv / "bin" / "tap-jira"
    if exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"tap-jira=={VERSION}"], check=True)
    return exe


class TapJira:
    """tap-jira configured for one sandbox: discovered once, then run any number of times."""

    def __init__(self, exe: Path, info: dict[str, Any], work: Path) -> None:
        self.exe = exe
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        user = info["users"]["connector"]
        self.config = work / "config.json"
        self.config.write_text(
            json.dumps(
                {
                    "base_url": info["jira_url"],
                    "username": user["jira_user"],
                    "password": user["token"],
                    "start_date": "2000-01-01T00:00:00Z",  # every ticket: a full read
                    "user_agent": "change-connector-bench",
                }
            )
        )
        site = work / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.env = {
            **os.environ,
            "REQUESTS_CA_BUNDLE": info["ca_bundle"],
            "PYTHONPATH": str(site),
        }
        self.catalog = work / "catalog.json"
        self.catalog.write_text(json.dumps(self._issues_only(self._discover())))

    def _discover(self) -> dict[str, Any]:
        out = subprocess.run(
            [str(self.exe), "--config", str(self.config), "--discover"],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"tap-jira --discover failed: {out.stderr.strip()[-500:]}")
        catalog: dict[str, Any] = json.loads(out.stdout)
        return catalog

    @staticmethod
    def _issues_only(catalog: dict[str, Any]) -> dict[str, Any]:
        """Select the issues stream and nothing else (no comments, changelogs, transitions)."""
        for stream in catalog["streams"]:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] == "issues"
        return catalog

    def run(self) -> dict[str, Any]:
        """One full read of the issues stream (no state: from start_date), timed."""
        records = self.work / "records.jsonl"
        started = time.perf_counter()
        with records.open("wb") as out:
            # tap-jira takes the catalog as --properties (singer-python's older flag)
            proc = subprocess.run(
                [str(self.exe), "--config", str(self.config), "--properties", str(self.catalog)],
                stdout=out,
                stderr=subprocess.PIPE,
                env=self.env,
                check=False,
            )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"tap-jira failed: {proc.stderr.decode().strip()[-500:]}")
        count = 0
        with records.open("rb") as lines:
            for line in lines:
                if line.startswith(b'{"type": "RECORD", "stream": "issues"'):
                    count += 1
        records.unlink()
        return {"seconds": seconds, "records": count}

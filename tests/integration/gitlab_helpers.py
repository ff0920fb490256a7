"""Helpers of the GitLab tests: a receiver that records webhook deliveries, GitLab REST calls as
a person makes them, the sandbox's request log filtered to GitLab, and waiting for a condition."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import requests
from sync_helpers import request_log

from connector.sandbox import SandboxInfo
from connector.sandbox.app import CLIENT_CLOSED

T = TypeVar("T")
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "gitlab"


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str
    deliveries: list[Received] = field(default_factory=list)


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A plain HTTP endpoint that records every POST (a GitLab project hook's target)."""
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append(Received({k.lower(): v for k, v in self.headers.items()}, json.loads(raw)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", got)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def gitlab(
    info: SandboxInfo, method: str, path: str, *, user: str = "connector", **kw: Any
) -> requests.Response:
    """One GitLab REST call (`path` under /api/v4) as `user`, with their access token."""
    return requests.request(
        method,
        f"{info.gitlab_url}/api/v4{path}",
        headers={"PRIVATE-TOKEN": info.gitlab_tokens[user]},
        verify=info.ca_bundle,
        timeout=30,
        **kw,
    )


def approval_posts(info: SandboxInfo, deployment_id: int | None = None) -> list[str]:
    """The approval POSTs the sandbox served (to one deployment, or all), as 'user path'; not
    one its client closed before sending it whole (a worker killed mid-request: GitLab never
    had it)."""
    return [
        f"{r['user']} {r['path']}"
        for r in request_log(info)
        if r["method"] == "POST"
        and r["path"].endswith("/approval")
        and r["status"] != CLIENT_CLOSED
        and (deployment_id is None or f"/deployments/{deployment_id}/" in r["path"])
    ]


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = 20.0) -> T:
    """`probe()` once it is truthy; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def spec_of(real: Any) -> Any:
    """A shapes.py spec naming every key of a real body (all of them compared)."""
    if isinstance(real, dict):
        return {k: spec_of(v) for k, v in real.items()}
    if isinstance(real, list):
        return [spec_of(real[0])] if real else None
    return None

"""Shared state of one running sandbox: options, users and their tokens, clock, request log.

The Jira and ServiceNow simulators each keep their own records; this holds what both need and
what tests inspect: who is calling (Basic auth with a per-user API token), the log of every
request served, and the sandbox-wide lock that makes each request atomic.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from connector.sandbox.catalog import USERS, SandboxUser
from connector.sandbox.faults import Faults, parse_faults
from connector.sandbox.scenario_model import DEFAULT_BASE_TIME

Mode = Literal["cloud", "datacenter"]


@dataclass(frozen=True)
class SandboxOptions:
    data_dir: Path
    port: int = 0
    seed_count: int = 200
    random_seed: int = 0
    mode: Mode = "cloud"
    faults: str = ""
    base_time: datetime = DEFAULT_BASE_TIME
    jira_webhook_url: str | None = None
    servicenow_webhook_url: str | None = None
    # The GitHub App's webhook URL (settable later: `Sandbox.github.webhook_url`)
    github_webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"
    # Jira re-delivers some webhooks; this is the share delivered twice.
    webhook_duplicate_rate: float = 0.1
    # Data Center: the most issues one search page holds (jira.search.views.default.max, an
    # admin setting, 1000 out of the box): a larger `maxResults` gets a shorter page.
    max_results: int = 1000
    # Jira Cloud: how many polls of an asynchronous task (GET /task/{id}) answer that it is
    # still queued or running before it runs (0: the first poll finds it complete).
    jira_task_polls: int = 0


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    user: str | None
    system: str
    # when the answer started (Unix time, seconds): latency benchmarks time requests by it
    at: float = field(default_factory=time.time)
    # when the request arrived (Unix time, before any injected delay): with `at`, the time it
    # was in flight, so tests can tell which requests overlapped
    started: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "user": self.user,
            "system": self.system,
            "at": self.at,
            "started": self.at if self.started is None else self.started,
        }


@dataclass
class SandboxState:
    options: SandboxOptions
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    lock: threading.RLock = field(default_factory=threading.RLock)
    requests: list[RequestRecord] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.faults = parse_faults(self.options.faults, random_seed=self.options.random_seed)

    def now(self) -> datetime:
        return self.clock()

    def record(self, entry: RequestRecord) -> None:
        with self.lock:
            self.requests.append(entry)

    def request_log(self) -> dict[str, Any]:
        with self.lock:
            entries = [r.as_dict() for r in self.requests]
            counts = Counter(f"{r.method} {_endpoint(r.path)}" for r in self.requests)
        return {"total": len(entries), "counts": dict(sorted(counts.items())), "requests": entries}

    def reset_requests(self) -> None:
        with self.lock:
            self.requests.clear()


def _endpoint(path: str) -> str:
    """Group request paths per endpoint: ids and keys become placeholders."""
    parts = []
    for part in path.split("/"):
        if (part.isdigit() and len(part) > 1) or (
            len(part) == 32 and all(c in "0123456789abcdef" for c in part)
        ):
            parts.append("{id}")
        elif "-" in part and part.split("-")[-1].isdigit() and part.split("-")[0].isupper():
            parts.append("{key}")
        else:
            parts.append(part)
    return "/".join(parts)


def basic_auth_user(authorization: str | None, *, login_field: str) -> SandboxUser | None:
    """The user whose credentials are in a Basic `Authorization` header, or None.

    `login_field` is what the user name must be: "email" (Jira Cloud, email + API token) or
    "login" (Jira Data Center and ServiceNow user names).
    """
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, secret = decoded.partition(":")
    if not sep:
        return None
    for user in USERS:
        if getattr(user, login_field) == name and _same(user.token, secret):
            return user
    return None


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())

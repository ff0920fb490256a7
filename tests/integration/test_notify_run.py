"""End to end: `change-connector run` (a real process) with Slack and Teams channels on the
sandbox. The sandbox's ServiceNow webhooks tell the worker about a new emergency change and a
change that started implementing without approval; each yields exactly one Slack and one
Teams message in the documented formats, also after the worker is killed with SIGKILL and
restarted (and the tickets are edited again): nothing is posted twice."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from sync_helpers import running_sandbox, write_config

from connector.sandbox import Sandbox
from connector.sandbox.chat_formats import adaptive_card_problem, blocks_problem

LEASE = 3.0
TIMEOUT = 3.0  # each call's; a dead worker's ticket is written again twice this after its lease
EVENTS = '["emergency-created", "emergency-implemented", "unauthorized"]'
TITLES = {
    "Emergency change raised": "emergency-created",
    "Emergency change implemented": "emergency-implemented",
    "Unauthorized change": "unauthorized",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(tmp: Path, sandbox: Sandbox, port: int) -> Path:
    info, urls = sandbox.info, sandbox.chat_urls
    path = write_config(
        tmp / "worker.toml",
        info,
        store_url=f"sqlite:///{tmp / 'store.db'}",
        lease_seconds=LEASE,
        timeout_seconds=TIMEOUT,
        webhook_secret=info.webhook_secret,
        poll_interval_minutes=60,  # the start-up poll only: later news comes by webhook
    )
    text = path.read_text().replace(
        f"[worker]\nlease_seconds = {LEASE}\n",
        f"[worker]\nlease_seconds = {LEASE}\ndrain_interval_seconds = 1\n",
    )
    text += f"\n[server]\nport = {port}\n"
    for kind in ("slack", "teams"):
        text += f"""
[[notify]]
name = "{kind}-ops"
kind = "{kind}"
url = "{urls[kind]}"
ca_bundle = "{info.ca_bundle}"
events = {EVENTS}
sources = ["sandbox-servicenow", "sandbox-jira"]
"""
    path.write_text(text)
    return path


def start(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def settled(sandbox: Sandbox, quiet: float = 4.0, least: int = 1) -> Callable[[], bool]:
    """True once the chat log holds `least` posts and has not grown for `quiet` seconds."""
    seen = [-1, time.monotonic()]

    def check() -> bool:
        n = len(sandbox.chat.entries())
        if n != seen[0]:
            seen[0], seen[1] = n, time.monotonic()
            return False
        return n >= least and time.monotonic() - seen[1] >= quiet

    return check


def message(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(service, ticket key, event) of a logged post, read from its body."""
    body = entry["body"]
    if entry["service"] == "slack":
        title, _, rest = body["text"].partition(": ")
    else:
        card = body["attachments"][0]["content"]
        title, rest = card["body"][0]["text"], card["body"][1]["text"]
    return entry["service"], rest.split(" ", 1)[0], TITLES[title]


def snow(sandbox: Sandbox, method: str, path: str = "", **kw: Any) -> dict[str, Any]:
    info = sandbox.info
    response = requests.request(
        method,
        f"{info.servicenow_url}/api/now/table/change_request{path}",
        auth=info.credentials("alice", "servicenow"),
        verify=info.ca_bundle,
        headers={"Accept": "application/json"},
        timeout=10,
        **kw,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()["result"]
    return result


def test_emergency_and_unauthorized_changes_post_once_to_slack_and_teams(tmp_path: Path) -> None:
    port = free_port()
    hooks = f"http://127.0.0.1:{port}/webhooks"
    with running_sandbox(
        tmp_path,
        seed_count=10,
        random_seed=5,
        jira_webhook_url=f"{hooks}/jira/sandbox-jira",
        servicenow_webhook_url=f"{hooks}/servicenow/sandbox-servicenow",
        webhook_secret="run-notify-webhook-secret",
        webhook_duplicate_rate=0.5,
    ) as sandbox:
        path = config(tmp_path, sandbox, port)
        worker = start(path)
        try:
            # The start-up poll: whatever the seeded tickets are worth telling.
            wait_for(settled(sandbox), 120, "the start-up poll's posts")
            before = len(sandbox.chat.entries())

            # News by webhook: a new emergency change, and a normal change that starts
            # implementing while it still waits for its approval.
            emergency = snow(
                sandbox,
                "POST",
                json={
                    "short_description": "Emergency: patch the payment gateway TLS library",
                    "type": "emergency",
                    "state": "-4",
                },
            )
            rogue = snow(
                sandbox,
                "POST",
                json={"short_description": "Resize the reporting cluster", "type": "normal"},
            )
            snow(sandbox, "PATCH", f"/{rogue['sys_id']}", json={"state": "-1"})
            new = {emergency["number"], rogue["number"]}

            def posted() -> list[tuple[str, str, str]]:
                return [m for e in sandbox.chat.entries() if (m := message(e))[1] in new]

            # Killed as soon as the first event is out to both channels, while the worker waits
            # for Slack's next one-second slot: the other posts are still to do.
            wait_for(lambda: len(posted()) >= 2, 60, "the first posts about the news", 0.02)
            worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=30)
            assert len(posted()) < 4
            # The tickets change again while no worker runs; their webhooks find no one.
            for record in (emergency, rogue):
                snow(sandbox, "PATCH", f"/{record['sys_id']}", json={"description": "update 1"})
            time.sleep(LEASE + 2 * TIMEOUT + 0.5)  # the dead worker's claims and their grace lapse

            worker = start(path)
            wait_for(lambda: len(posted()) >= 4, 60, "the four posts about the news")
            for record in (emergency, rogue):  # and again, by webhook to the new worker
                snow(sandbox, "PATCH", f"/{record['sys_id']}", json={"description": "update 2"})
            wait_for(settled(sandbox), 60, "the restarted worker to settle")
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=60)
        assert "Traceback" not in err

        log = sandbox.chat.entries()
        assert [e for e in log if e["status"] not in (200, 202)] == []
        for entry in log:
            if entry["service"] == "slack":
                assert entry["body"]["text"] and blocks_problem(entry["body"]["blocks"]) == ""
            else:
                (attachment,) = entry["body"]["attachments"]
                assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
                assert adaptive_card_problem(attachment["content"]) == ""
        counts = Counter(message(e) for e in log)
        assert set(counts.values()) == {1}, counts  # nothing posted twice, before or after
        assert counts[("slack", emergency["number"], "emergency-created")] == 1
        assert counts[("teams", emergency["number"], "emergency-created")] == 1
        assert counts[("slack", rogue["number"], "unauthorized")] == 1
        assert counts[("teams", rogue["number"], "unauthorized")] == 1
        assert len(log) > before
        for secret in (sandbox.chat_urls["slack"], sandbox.chat.teams_sig):
            assert secret not in err

        # Posted facts are not planned again: `plan` lists no notification.
        plan = subprocess.run(
            [sys.executable, "-m", "connector", "plan", "--json", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert plan.returncode == 0, plan.stderr
        rows = json.loads(plan.stdout)
        assert rows and not [a for r in rows for a in r["actions"] if a["kind"] == "notify"]

"""The chat client against the sandbox's Slack / Teams / signed-webhook receivers over HTTPS:
bodies built by the connector are accepted, bad bodies are refused as the services refuse them,
Teams' 4 requests per second hold (429 + Retry-After honoured), signatures verify, and the
webhook URL never shows in an error."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.core.errors import ConfigError, ConnectorError
from connector.core.model import Change, ChangeType, Source, Status, SystemKind
from connector.core.notify.bodies import body
from connector.core.notify.events import Event
from connector.core.notify.settings import EventKind, NotifyChannel
from connector.sandbox import Sandbox, SandboxOptions
from connector.serve.metrics import Metrics
from connector.systems.chat import ChatClient
from connector.systems.http import RetryPolicy

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(SandboxOptions(data_dir=tmp_path_factory.mktemp("chat"), seed_count=1))
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(autouse=True)
def empty_log(sandbox: Sandbox) -> None:
    sandbox.chat.reset()


def channel(sandbox: Sandbox, kind: str, **fields: Any) -> NotifyChannel:
    urls = sandbox.chat_urls
    base: dict[str, Any] = {
        "name": f"{kind}-chan",
        "kind": kind,
        "url": urls[kind],
        "events": list(EventKind),
        "ca_bundle": Path(sandbox.info.ca_bundle),
    }
    if kind == "webhook":
        base["secret"] = SecretStr(urls["webhook_secret"])
    return NotifyChannel.model_validate(base | fields)


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-3",
        "native_id": "10003",
        "url": "https://acme.atlassian.net/browse/CHG-3",
        "title": "Emergency <fix> & rollback",
        "change_type": ChangeType.EMERGENCY,
        "status": Status.IMPLEMENTING,
        "created": NOW - timedelta(hours=1),
        "updated": NOW,
    }
    return Change.model_validate(base | fields)


def text_for(kind: str, n: int = 0) -> str:
    event = Event(EventKind.UNAUTHORIZED, "", (f"reached implementing without approval {n}",))
    return body(kind, event, change(), source="acme-jira", delivery=f"cc1-test-{n}")


def raw_post(url: str, sandbox: Sandbox, data: Any, **kw: Any) -> requests.Response:
    return requests.post(url, json=data, verify=sandbox.info.ca_bundle, timeout=10, **kw)


def test_connector_bodies_are_accepted_by_each_receiver(sandbox: Sandbox) -> None:
    chats = [channel(sandbox, k) for k in ("slack", "teams", "webhook")]
    metrics = Metrics()
    client = ChatClient(chats, observe=metrics.notification)
    try:
        refs = [client.post(c.name, text_for(c.kind), delivery="cc1-test-0") for c in chats]
    finally:
        client.close()
    assert refs == ["200 ok", "202", '200 {"ok":true,"error":null}']
    for kind in ("slack", "teams", "webhook"):
        posted = metrics.notifications.labels(channel_kind=kind, outcome="posted")
        assert posted._value.get() == 1
    log = sandbox.chat.entries()
    assert [(e["service"], e["status"], e["error"]) for e in log] == [
        ("slack", 200, ""),
        ("teams", 202, ""),
        ("webhook", 200, ""),
    ]
    slack_body, teams_body, hook_body = (e["body"] for e in log)
    assert slack_body["blocks"][0]["type"] == "section"
    assert teams_body["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert hook_body["id"] == "cc1-test-0"
    assert {e["delivery"] for e in log} == {"cc1-test-0"}
    over_http = requests.get(sandbox.chat_urls["log"], verify=sandbox.info.ca_bundle, timeout=10)
    assert over_http.json()["messages"] == log
    requests.delete(sandbox.chat_urls["log"], verify=sandbox.info.ca_bundle, timeout=10)
    assert sandbox.chat.entries() == []


def test_slack_refuses_bad_bodies_like_slack(sandbox: Sandbox) -> None:
    url = sandbox.chat_urls["slack"]
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    md = {"type": "section", "text": {"type": "md", "text": "x"}}
    long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    cases = [
        ({"blocks": [section]}, "no_text"),
        ({"text": "t", "blocks": [section] * 51}, "invalid_blocks"),
        ({"text": "t", "blocks": [md]}, "invalid_blocks"),
        ({"text": "t", "blocks": [long]}, "invalid_blocks"),
        ({"text": "t", "blocks": [{"type": "context", "elements": []}]}, "invalid_blocks"),
        ({"text": "t", "blocks": [{"type": "sparkle"}]}, "invalid_blocks"),
        (["not", "an", "object"], "invalid_payload"),
    ]  # fmt: skip
    for data, error in cases:
        answer = raw_post(url, sandbox, data)
        assert (answer.status_code, answer.text) == (400, error), data
    wrong = url.rsplit("/", 1)[0] + "/not-the-token"
    assert raw_post(wrong, sandbox, {"text": "t"}).status_code == 404


def test_teams_refuses_bad_cards_wrong_signatures_and_big_bodies(sandbox: Sandbox) -> None:
    url = sandbox.chat_urls["teams"]
    good = json.loads(text_for("teams"))
    card = good["attachments"][0]["content"]
    bad_cards = [
        card | {"version": "1.6"},
        card | {"type": "MessageCard"},
        card | {"body": [{"type": "TextBlock"}]},
        card | {"actions": [{"type": "Action.OpenUrl", "title": "x"}]},
    ]
    for bad in bad_cards:
        data = {"type": "message", "attachments": [{**good["attachments"][0], "content": bad}]}
        assert raw_post(url, sandbox, data).status_code == 400
        sandbox.chat.reset()  # not the rate limit under test here
    assert raw_post(url, sandbox, {"text": "a connector card"}).status_code == 400
    sandbox.chat.reset()
    assert raw_post(url.replace("sig=", "sig=x"), sandbox, good).status_code == 401
    big = {
        **good,
        "attachments": [{**good["attachments"][0], "content": card | {"x": "y" * 29_000}}],
    }
    assert raw_post(url, sandbox, big).status_code == 413


def test_teams_rate_limit_is_kept_and_retry_after_is_honoured(sandbox: Sandbox) -> None:
    url = sandbox.chat_urls["teams"]
    good = json.loads(text_for("teams"))
    answers = [raw_post(url, sandbox, good).status_code for _ in range(6)]
    assert answers[:4] == [202] * 4 and 429 in answers[4:]
    burst = len(sandbox.chat.entries())
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    client = ChatClient([channel(sandbox, "teams")], policy=RetryPolicy(attempts=3, sleep=sleep))
    try:
        # The window is still full from the burst: the first post gets 429 and waits it out,
        # unmarked as "sending" while it waits (the 429 proves nothing was posted).
        marks: list[bool] = []
        first = client.post("teams-chan", text_for("teams"), delivery="d", mark=marks.append)
        assert first == "202" and marks == [True, False, True]
        for n in range(1, 8):
            assert client.post("teams-chan", text_for("teams", n), delivery=f"d{n}") == "202"
    finally:
        client.close()
    statuses = [e["status"] for e in sandbox.chat.entries()[burst:]]
    assert statuses == [429] + [202] * 8  # our own pace never trips the limit
    assert max(waits) >= 1.0  # Retry-After: 1 was honoured


def test_refusals_name_the_channel_never_the_url(sandbox: Sandbox) -> None:
    urls = sandbox.chat_urls
    revoked = channel(sandbox, "slack", url=urls["slack"].rsplit("/", 1)[0] + "/revokedtoken1")
    unsigned = channel(sandbox, "webhook", secret=SecretStr("another-secret-0123456789"))
    seen: list[tuple[str, str]] = []
    client = ChatClient(
        [revoked, unsigned],
        policy=RetryPolicy(attempts=2, sleep=lambda s: None),
        observe=lambda kind, outcome: seen.append((kind, outcome)),
    )
    try:
        with pytest.raises(ConfigError) as caught:
            client.post("slack-chan", text_for("slack"), delivery="d")
        assert caught.value.message == "notify.slack-chan: post: Slack answered 404: no_service"
        with pytest.raises(ConnectorError) as refused:
            client.post("webhook-chan", text_for("webhook"), delivery="d")
        assert "401" in refused.value.message
        for message in (caught.value.message, refused.value.message):
            assert "revokedtoken1" not in message and urls["webhook"] not in message
        assert seen == [("slack", "refused"), ("webhook", "refused")]
    finally:
        client.close()


def test_an_untrusted_certificate_is_a_config_problem(sandbox: Sandbox) -> None:
    no_ca = channel(sandbox, "slack", ca_bundle=None)
    client = ChatClient([no_ca], policy=RetryPolicy(attempts=2, sleep=lambda s: None))
    try:
        with pytest.raises(ConnectorError, match="TLS certificate of Slack is not trusted"):
            client.post("slack-chan", text_for("slack"), delivery="d")
    finally:
        client.close()
    assert sandbox.chat.entries() == []


def test_check_config_checks_a_channel_ca_bundle_without_showing_its_url(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from sync_helpers import write_config

    urls = sandbox.chat_urls
    path = write_config(tmp_path / "c.toml", sandbox.info, store_url=f"sqlite:///{tmp_path}/s.db")
    with path.open("a") as fh:
        fh.write(
            f'\n[[notify]]\nname = "ops"\nkind = "slack"\nurl = "{urls["slack"]}"\n'
            'events = ["unauthorized"]\nca_bundle = "missing.pem"\n'
        )
    result = subprocess.run(
        [sys.executable, "-m", "connector", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    line = result.stderr.strip()
    assert f"{path}: notify.0.ca_bundle" in line and len(line.splitlines()) == 1
    assert urls["slack"] not in result.stdout + result.stderr

"""A ticket key from a webhook can only ever address its own ticket: a hostile key is refused at
intake (400, nothing stored), a hostile key already in the inbox (written by an older version) is
never put into a request, and every request the drain makes (the sandbox's request log) goes to
the ticket's own path. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import Engine
from store_fixtures import (  # noqa: F401
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)
from test_webhooks import rows, serve_app, stop

from connector.commands.demo import sandbox_sources
from connector.sandbox import Sandbox, SandboxInfo, SandboxOptions
from connector.sandbox.servicenow.webhooks import sign
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

JIRA = "sandbox-jira"
SNOW = "sandbox-servicenow"
SECRET = "drain-paths-webhook-secret"


@pytest.fixture(name="sandbox", scope="module")
def fixture_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = Sandbox(
        SandboxOptions(data_dir=tmp_path_factory.mktemp("sandbox-paths"), seed_count=6)
    )
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _settings(info: SandboxInfo) -> Settings:
    secret = SecretStr(SECRET)
    sources = {
        name: s.model_copy(update={"webhook_secret": secret})
        for name, s in sandbox_sources(info).items()
    }
    return Settings(sources=sources)


def _jira_headers(body: bytes, delivery: str) -> dict[str, str]:
    import hashlib
    import hmac

    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature": f"sha256={mac}", "X-Atlassian-Webhook-Identifier": delivery}


def _snow_headers(body: bytes, delivery: str) -> dict[str, str]:
    return {"X-ServiceNow-Signature": sign(SECRET, body), "X-ServiceNow-Event-Id": delivery}


def _log(info: SandboxInfo) -> list[dict[str, Any]]:
    answer = requests.get(info.requests_url, verify=info.ca_bundle, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["requests"])


def test_hostile_keys_never_reach_a_request(
    sandbox: Sandbox, store: Store, raw_engine: Engine
) -> None:
    info = sandbox.info
    settings = _settings(info)
    issue = min(sandbox.jira.store.issues.values(), key=lambda i: i.key)
    jira_key, jira_id = issue.key, issue.id
    snow = requests.get(
        f"{info.servicenow_url}/api/now/table/change_request",
        params={"sysparm_limit": "1", "sysparm_fields": "number,sys_id"},
        auth=info.credentials("admin", "servicenow"),
        verify=info.ca_bundle,
        timeout=10,
    ).json()["result"][0]
    number, sys_id = snow["number"], snow["sys_id"]
    running = serve_app(build_app(settings, store, Metrics()))
    try:

        def post(path: str, payload: dict[str, Any], delivery: str) -> int:
            body = json.dumps(payload).encode()
            sign_with = _jira_headers if "/jira/" in path else _snow_headers
            response = requests.post(
                running.url + path, data=body, headers=sign_with(body, delivery), timeout=10
            )
            return response.status_code

        jira_path, snow_path = f"/webhooks/jira/{JIRA}", f"/webhooks/servicenow/{SNOW}"
        hostile = {
            "path": post(jira_path, {"issue": {"key": "CHG-1/../../myself"}}, "h-1"),
            "query": post(jira_path, {"issue": {"key": f"{jira_key}?expand=x"}}, "h-2"),
            "encoded": post(jira_path, {"issue": {"key": "CHG-1%2F..%2Fmyself"}}, "h-3"),
            "or": post(snow_path, {"number": f"{number}^ORnumberISNOTEMPTY"}, "h-4"),
            "nq": post(snow_path, {"number": f"{number}^NQactive=true"}, "h-5"),
        }
        assert set(hostile.values()) == {400}
        assert rows(raw_engine) == []
        assert post(jira_path, {"issue": {"key": jira_key}}, "ok-1") == 202
        assert post(snow_path, {"number": number, "sys_id": sys_id}, "ok-2") == 202
    finally:
        stop(running)
    # what an older version may have let in: never sent anywhere
    for n, key in enumerate(("CHG-1/../../myself", f"{jira_key}/comment", "..")):
        store.inbox_add(source=JIRA, delivery_id=f"legacy-{n}", ticket_key=key, body="{}")
    store.inbox_add(
        source=SNOW, delivery_id="legacy-s", ticket_key=f"{number}^ORactive=true", body="{}"
    )
    with closing(Worker(settings, store)) as worker:
        worker.open()
        requests.delete(info.requests_url, verify=info.ca_bundle, timeout=10).raise_for_status()
        stats = worker.drain_once()
    assert stats.claimed == 6
    assert stats.failed == 0
    log = _log(info)
    assert log, "the drain made no request"
    # the ticket by key or id; ServiceNow tables are queried by the record's number or sys_id
    own = re.compile(
        rf"/jira/rest/api/[23]/issue/({re.escape(jira_key)}|{jira_id})(/.*)?"
        rf"|/servicenow/api/now/table/(change_request(/{sys_id})?|sysapproval_approver)"
    )
    drained = [r for r in log if not r["path"].startswith("/_sandbox/")]
    assert {r["path"].split("/")[1] for r in drained} == {"jira", "servicenow"}
    strays = [f"{r['method']} {r['path']}" for r in drained if not own.fullmatch(r["path"])]
    assert strays == []
    assert {r["state"] for r in _states(store)} == {"done"}


def _states(store: Store) -> list[dict[str, str]]:
    items = [store.inbox_get(n) for n in range(1, 20)]
    return [{"state": item.state} for item in items if item is not None]

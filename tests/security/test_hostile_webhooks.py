"""Signed but hostile webhook bodies, on SQLite and PostgreSQL: each is a 4xx, stores nothing,
and the server keeps serving. Also: unknown sources answer as bad signatures do, stalled bodies
time out, replays under new delivery ids are stored once, and the inbox has a cap."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import Engine
from store_fixtures import (  # noqa: F401
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)
from test_webhooks import SNOW_HEADER, Running, rows, serve_app, signed, source, stop

from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.settings import ServerSettings, Settings
from connector.store import Store

JIRA = "/webhooks/jira/acme-jira"
SNOW = "/webhooks/servicenow/acme-snow"


def _settings(**server: Any) -> Settings:
    return Settings(
        server=ServerSettings(**{"max_body_bytes": 65_536, **server}),
        sources={
            "acme-jira": source("jira"),
            "acme-snow": source("servicenow", webhook_signature_header=SNOW_HEADER),
        },
    )


@pytest.fixture(name="intake")
def fixture_intake(store: Store) -> Iterator[Running]:
    running = serve_app(build_app(_settings(body_timeout_seconds=1.0), store, Metrics()))
    yield running
    stop(running)


def _post(intake: Running, path: str, body: bytes, delivery: str = "d-1") -> requests.Response:
    system = "jira" if "/jira/" in path else "servicenow"
    headers = signed(system, body, delivery)
    return requests.post(intake.url + path, data=body, headers=headers, timeout=10)


def _jira(issue_key: Any = "OPS-1", **extra: Any) -> bytes:
    return json.dumps({"issue": {"key": issue_key}, **extra}).encode()


def _raw_jira(tail: str) -> bytes:
    """A body whose text is written by hand (for what json.dumps would not write)."""
    return ('{"issue": {"key": "OPS-1"}, "x": ' + tail + "}").encode()


HOSTILE_JIRA = {
    "5,000-digit integer": _raw_jira("1" * 5000),
    "101-digit negative integer": _raw_jira("-" + "9" * 101),
    "5,000-digit float": _raw_jira("1." + "1" * 5000),
    "NaN": _raw_jira("NaN"),
    "Infinity": _raw_jira("-Infinity"),
    "lone surrogate in a value": _raw_jira('"\\ud800"'),
    "lone surrogate in a key": _raw_jira('{"\\udfff": 1}'),
    "escaped NUL in a value": _raw_jira('"a\\u0000b"'),
    "escaped NUL in a key": _raw_jira('{"a\\u0000": 1}'),
    "raw NUL byte": _raw_jira('"a\x00b"'),
    "10,000 levels of nesting": _raw_jira("[" * 10_000 + "]" * 10_000),
    "65 levels of objects": _raw_jira('{"a": ' * 64 + "1" + "}" * 64),
    "encoded surrogate (not UTF-8)": b'{"issue": {"key": "OPS-1"}, "x": "\xed\xa0\x80"}',
    "overlong UTF-8": b'{"issue": {"key": "OPS-1"}, "x": "\xc0\xaf"}',
    "UTF-8 BOM": b"\xef\xbb\xbf" + _jira(),
    "empty body": b"",
    "null": b"null",
    "a string": b'"OPS-1"',
    "key with a path": _jira("CHG-1/../../myself"),
    "key with a query": _jira("OPS-1?expand=x"),
    "key with a fragment": _jira("OPS-1#x"),
    "key with a percent": _jira("OPS-1%2F..%2Fmyself"),
    "key with a space": _jira("OPS-1 "),
    "key with a NUL": _jira("OPS-1\x00"),
    "lower-case key": _jira("ops-1"),
    "issue number 0": _jira("OPS-0"),
    "one-letter project": _jira("O-1"),
    "dot segment": _jira(".."),
    "key of 300 characters": _jira("OPS-" + "1" * 296),
    "key is a number": _jira(7),
    "key is a list": _jira(["OPS-1"]),
    "duplicate key, last one hostile": b'{"issue": {"key": "OPS-1", "key": "OPS-1/../x"}}',
}

HOSTILE_SNOW = {
    "number adds an OR condition": {"number": "CHG0030001^ORnumberISNOTEMPTY"},
    "number adds a new query": {"number": "CHG0030001^NQsys_idISNOTEMPTY"},
    "number with a path": {"number": "CHG0030001/../../sys_user"},
    "number with an equals sign": {"number": "CHG0030001=x"},
    "sys_id not hexadecimal": {"sys_id": "z" * 32},
    "sys_id with a path": {"sys_id": "a" * 31 + "/"},
    "sys_id upper-case hex and query": {"sys_id": "A" * 32 + "^ORactive=true"},
}


def test_hostile_jira_bodies_are_4xx_and_store_nothing(intake: Running, raw_engine: Engine) -> None:
    outcomes = {
        name: _post(intake, JIRA, body, name).status_code for name, body in HOSTILE_JIRA.items()
    }
    assert {name: status for name, status in outcomes.items() if status != 400} == {}
    assert rows(raw_engine) == []
    # the server and its store connections are fine afterwards
    assert _post(intake, JIRA, _jira("OPS-2"), "good").status_code == 202
    deep_enough = _raw_jira('{"a": ' * 62 + "[1]" + "}" * 62)  # 64 levels: the limit
    assert _post(intake, JIRA, deep_enough, "deep").status_code == 202
    assert [r[1:3] for r in rows(raw_engine)] == [("good", "OPS-2"), ("deep", "OPS-1")]


def test_hostile_servicenow_bodies_are_4xx_and_store_nothing(
    intake: Running, raw_engine: Engine
) -> None:
    outcomes = {
        name: _post(intake, SNOW, json.dumps(payload).encode(), name).status_code
        for name, payload in HOSTILE_SNOW.items()
    }
    assert {name: status for name, status in outcomes.items() if status != 400} == {}
    assert rows(raw_engine) == []
    good = json.dumps({"number": "CHG0030001", "sys_id": "0" * 32}).encode()
    assert _post(intake, SNOW, good, "good").status_code == 202
    by_sys_id = json.dumps({"sys_id": "0123456789abcdef" * 2}).encode()
    assert _post(intake, SNOW, by_sys_id, "good-2").status_code == 202
    assert [r[2] for r in rows(raw_engine)] == ["CHG0030001", "0123456789abcdef" * 2]


def test_refusal_answers_say_nothing_about_the_source(intake: Running, raw_engine: Engine) -> None:
    body = _jira()
    good = signed("jira", body)
    bad = signed("jira", body, secret="wrong")
    unsigned = {k: v for k, v in good.items() if k != "X-Hub-Signature"}

    def answer(path: str, headers: dict[str, str]) -> tuple[int, str]:
        response = requests.post(intake.url + path, data=body, headers=headers, timeout=10)
        return response.status_code, response.text

    answers = {
        "bad signature": answer(JIRA, bad),
        "no signature": answer(JIRA, unsigned),
        "unknown source, signed": answer("/webhooks/jira/nobody", good),
        "unknown source, unsigned": answer("/webhooks/jira/nobody", unsigned),
        "other system's source": answer("/webhooks/servicenow/acme-jira", good),
    }
    assert set(answers.values()) == {(401, '{"error": "missing or invalid signature"}')}
    assert rows(raw_engine) == []


def test_stalled_body_times_out_and_others_are_served(intake: Running, raw_engine: Engine) -> None:
    host, port = intake.url.removeprefix("http://").split(":")
    body = _jira()
    headers = signed("jira", body)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(
            f"POST {JIRA} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        started = time.monotonic()
        # meanwhile the server answers everyone else
        assert _post(intake, JIRA, _jira("OPS-3"), "other").status_code == 202
        answer = slow.recv(4096).decode()
        waited = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 408")
    assert 0.5 < waited < 5
    assert rows(raw_engine) == [("acme-jira", "other", "OPS-3", "pending")]


def test_a_replayed_body_is_stored_once_whatever_its_delivery_id(
    intake: Running, raw_engine: Engine
) -> None:
    body = _jira("OPS-4", timestamp=1_700_000_000_000)
    statuses = [_post(intake, JIRA, body, f"replay-{i}").json()["status"] for i in range(100)]
    assert statuses == ["accepted"] + ["duplicate"] * 99
    assert rows(raw_engine) == [("acme-jira", "replay-0", "OPS-4", "pending")]
    # the same body to another source is that source's own delivery
    snow = json.dumps({"number": "CHG0030004"}).encode()
    assert _post(intake, SNOW, snow, "s-1").json() == {"status": "accepted"}
    assert _post(intake, SNOW, snow, "s-2").json() == {"status": "duplicate"}
    assert len(rows(raw_engine)) == 2


def test_a_full_inbox_answers_429_with_retry_after(store: Store, raw_engine: Engine) -> None:
    running = serve_app(build_app(_settings(max_pending=3), store, Metrics()))
    try:
        statuses = [
            _post(running, JIRA, _jira(f"OPS-{n}"), f"d-{n}").status_code for n in range(1, 6)
        ]
        assert statuses == [202, 202, 202, 429, 429]
        refused = _post(running, JIRA, _jira("OPS-9"), "d-9")
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "5")
        assert len(rows(raw_engine)) == 3
        # a drained row makes room again
        item = store.inbox_claim("w", limit=1, lease_seconds=30, now=_now())[0]
        store.inbox_done([item.id])
        time.sleep(1.1)  # the intake counts the pending rows again once a second
        assert _post(running, JIRA, _jira("OPS-9"), "d-9").status_code == 202
        assert _post(running, JIRA, _jira("OPS-10"), "d-10").status_code == 429
    finally:
        stop(running)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.mark.parametrize("declared", ["9" * 5000, "\u00b2", "-1", "1e9", " 12"])
def test_odd_content_lengths_are_answered_not_crashed(store: Store, declared: str) -> None:
    """Straight to the ASGI app (no HTTP parser in front to clean the header up)."""
    import asyncio

    import httpx

    app = build_app(_settings(), store, Metrics())
    body = _jira()
    headers = signed("jira", body) | {"content-length": declared}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            request = client.build_request("POST", JIRA, content=body)
            for name, value in headers.items():
                request.headers[name] = value
            return await client.send(request)

    try:
        response = asyncio.run(send())
    finally:
        app.writer.close()
    # a huge declared length is refused before reading; one that is not a number is ignored
    # (the body is still read within the limit)
    assert response.status_code == (413 if declared.isdigit() and declared.isascii() else 202)

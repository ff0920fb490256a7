"""ServiceNow change paging over mocked HTTP (`responses`): pages shorter than asked lose nothing.

A Table API page may hold fewer rows than `sysparm_limit` (rows an ACL hides are taken out of
the page after the query). The mock answers the adapter's keyset queries over 30 rows, several
sharing one `sys_updated_on` second, but never more than 7 rows per response, with
`X-Total-Count` counting every match, as ServiceNow does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from pydantic import SecretStr

from connector.settings import SourceSettings
from connector.systems.http import RetryPolicy
from connector.systems.servicenow import ServiceNowAdapter

URL = "https://acme.service-now.test"
SERVED = 7  # rows per response, whatever the limit asked


def _rows() -> list[dict[str, str]]:
    rows = []
    for n in range(30):
        second = n // 4  # four rows per second: the keyset must drain a second across pages
        rows.append(
            {
                "sys_id": f"{n:032x}",
                "number": f"CHG{30001 + n:07d}",
                "sys_updated_on": f"2026-03-01 10:00:{second:02d}",
            }
        )
    return rows


ROWS = _rows()


def _matches(row: dict[str, str], clause: str) -> bool:
    found = re.fullmatch(r"(\w+)(>=|>|=)(.*)", clause)
    assert found, f"the mock does not read {clause!r}"
    column, op, value = found.groups()
    have = row[column]
    return {"=": have == value, ">": have > value, ">=": have >= value}[op]


def _serve(request: Any) -> tuple[int, dict[str, str], str]:
    import json

    params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    clauses = [c for c in params.get("sysparm_query", "").split("^") if c]
    order = [c.removeprefix("ORDERBY") for c in clauses if c.startswith("ORDERBY")]
    wanted = [c for c in clauses if not c.startswith("ORDERBY")]
    matched = [r for r in ROWS if all(_matches(r, c) for c in wanted)]
    matched.sort(key=lambda r: tuple(r[c] for c in order))
    offset = int(params.get("sysparm_offset", "0"))
    limit = int(params.get("sysparm_limit", "10000"))
    page = matched[offset : offset + min(limit, SERVED)]
    body = {"result": [{k: {"value": v, "display_value": v} for k, v in r.items()} for r in page]}
    return 200, {"X-Total-Count": str(len(matched))}, json.dumps(body)


@pytest.fixture
def snow() -> Iterator[ServiceNowAdapter]:
    source = SourceSettings(
        kind="servicenow",
        url=URL,
        username="bot",
        token=SecretStr("t0ken"),
        mapping=Path("m"),
        page_size=10,
    )
    adapter = ServiceNowAdapter(
        "acme-snow", source, policy=RetryPolicy(sleep=lambda _: None, rng=random.Random(5))
    )
    yield adapter
    adapter.close()


def test_short_pages_lose_no_change(snow: ServiceNowAdapter) -> None:
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, f"{URL}/api/now/table/change_request", callback=_serve)
        numbers = [row["number"]["value"] for row in snow.changes()]
        asked = len(mock.calls)
        queries = {parse_qs(urlsplit(c.request.url).query)["sysparm_query"][0] for c in mock.calls}
    assert numbers == [r["number"] for r in ROWS]  # every row once, in keyset order
    assert asked > len(ROWS) // SERVED  # the server's short pages were followed
    # one keyset query per page (each from the last row's second on), then the end: the rest
    # of the last second and what came after it, both empty
    assert len(queries) == 7
    assert sum(">=" in q for q in queries) == 4


def test_the_mock_serves_short_pages() -> None:
    request = type("R", (), {"url": f"{URL}/x?sysparm_limit=10&sysparm_query=ORDERBYsys_id"})()
    status, headers, body = _serve(request)
    assert (status, headers["X-Total-Count"], body.count('"number"')) == (200, "30", SERVED)

"""Store pieces that need no database: the UTC column type, chain hashing, lock keys, URLs,
the lengths of IN lists and multi-row inserts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from connector.store import Store
from connector.store.audit import GENESIS, canonical_json, head_json, link_hash, verify
from connector.store.base import IN_CHUNK, chunks, in_list, pow2_runs
from connector.store.engine import lock_key
from connector.store.schema import UTCDateTime

SQLITE = create_engine("sqlite://").dialect
PG = create_engine("postgresql+psycopg://").dialect  # no connection is made


def test_utc_datetime_refuses_naive_values() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), SQLITE)


def test_utc_datetime_sqlite_strings_sort_like_times() -> None:
    kind = UTCDateTime()
    east = timezone(timedelta(hours=5))
    values = [
        datetime(2024, 1, 1, 4, 59, 59, 999999, tzinfo=east),  # 23:59:59.999999 the day before
        datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1), "x")),
    ]
    stored = [kind.process_bind_param(v, SQLITE) for v in values]
    assert stored[0] == "2023-12-31T23:59:59.999999+00:00"
    assert stored[1] == "2024-01-01T00:00:00.000000+00:00"
    assert len({len(s) for s in stored}) == 1
    assert stored[:3] == sorted(stored[:3])
    assert stored[3] == stored[1]
    back = kind.process_result_value(stored[0], SQLITE)
    assert back == values[0]
    assert back is not None and back.tzinfo is UTC


def test_utc_datetime_postgresql_values_come_back_utc() -> None:
    kind = UTCDateTime()
    local = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-3)))
    bound = kind.process_bind_param(local, PG)
    assert bound == local and bound.tzinfo is UTC
    back = kind.process_result_value(local, PG)
    assert back is not None and back.tzinfo is UTC and back == local


def _row(seq: int, prev: str, **fields: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "at": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seq),
        "source": "jira",
        "ticket_key": "OPS-1",
        "event": "e",
        "actor": "a",
        "detail": {"seq": seq},
    }
    values.update(fields)
    detail = values["detail"]
    assert isinstance(detail, dict)
    digest = link_hash(prev, seq=seq, **values)  # type: ignore[arg-type]
    return SimpleNamespace(
        seq=seq, prev_hash=prev, hash=digest, **{**values, "detail": canonical_json(detail)}
    )


def _chain(n: int) -> list[SimpleNamespace]:
    rows: list[SimpleNamespace] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        rows.append(_row(seq, prev))
        prev = rows[-1].hash
    return rows


def stored(rows: list[SimpleNamespace]) -> list[tuple[object, ...]]:
    """The rows as the store hands them to verify: columns in table order."""
    names = ("seq", "at", "source", "ticket_key", "event", "actor", "detail", "prev_hash", "hash")
    return [tuple(getattr(r, n) for n in names) for r in rows]


def test_verify_accepts_a_good_chain_and_finds_the_first_bad_link() -> None:
    rows = _chain(4)
    assert verify(stored(rows)).broken is None
    assert verify([]).broken is None
    rows[2].actor = "mallory"
    assert verify(stored(rows)).broken == 3
    rows = _chain(4)
    rows[1] = _row(2, rows[0].hash, actor="mallory")  # rehashed, but row 3 still links the old
    assert verify(stored(rows)).broken == 3
    rows = _chain(3)
    rows[0].detail = "not json"
    assert verify(stored(rows)).broken == 1
    rows = _chain(3)
    rows[1].detail = rows[1].detail.replace(":", ": ")  # same JSON, other bytes
    assert verify(stored(rows)).broken == 2
    rows = _chain(3)  # SQLite hands `at` over as its stored UTC text: the same link
    text_at = [(r[0], r[1].isoformat(timespec="microseconds"), *r[2:]) for r in stored(rows)]
    assert verify(text_at).broken is None


def test_link_hash_is_canonical() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    one = link_hash(GENESIS, seq=1, at=at, source="s", ticket_key=None, event="e", actor="a",
                    detail={"a": 1, "b": 2})  # fmt: skip
    two = link_hash(GENESIS, seq=1, at=at.astimezone(timezone(timedelta(hours=2))), source="s",
                    ticket_key=None, event="e", actor="a", detail={"b": 2, "a": 1})  # fmt: skip
    assert one == two
    assert len(one) == 64


def test_lock_keys_are_signed_64_bit_and_namespaced() -> None:
    key = lock_key("public", "source:jira")
    assert key == lock_key("public", "source:jira")
    assert -(2**63) <= key < 2**63
    assert key != lock_key("other", "source:jira")
    assert key != lock_key("public", "source:snow")


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert Store.default_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/change-connector.db"


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'quote " and backslash \\ and slash /',
        "controls \x00 \x01 \x08 \t \n \x0b \x0c \r \x1f \x7f",
        "unicode é ü 漢字 \u2028 \u2029 \ufeff 😀",
        "",
    ],
)
def test_verify_writes_a_link_s_fixed_columns_as_the_json_module_does(text: str) -> None:
    values = [2**40, "2024-01-01T00:00:00.000001+00:00", text, None, text, text]
    assert head_json(values) == json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    row = _row(1, GENESIS, source=text, ticket_key=text or None, event=text, actor=text)
    assert verify(stored([row])).broken is None


def test_in_lists_come_in_few_lengths_and_test_the_same_values() -> None:
    assert in_list([]) == [] and in_list(["a"]) == ["a"]
    assert in_list(["a", "b", "c"]) == ["a", "b", "c", "c"]
    keys = [f"OPS-{n}" for n in range(1, 1200)]
    lists = list(chunks([*keys, keys[0]]))
    assert [len(found) for found in lists] == [IN_CHUNK, IN_CHUNK, 256]
    assert [k for found in lists for k in dict.fromkeys(found)] == keys
    lengths = {len(in_list(keys[:n])) for n in range(1, IN_CHUNK + 1)}
    assert lengths == {2**n for n in range(10)}


def test_pow2_runs_cover_the_values_in_order_in_few_lengths() -> None:
    values = list(range(300))
    runs = list(pow2_runs(values, most=64))
    assert [len(run) for run in runs] == [64, 64, 64, 64, 32, 8, 4]
    assert [v for run in runs for v in run] == values
    assert list(pow2_runs([], most=64)) == []
    lengths = {len(run) for n in range(1, 200) for run in pow2_runs(values[:n], most=64)}
    assert lengths == {1, 2, 4, 8, 16, 32, 64}

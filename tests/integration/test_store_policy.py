"""Store: what the change-control policy persists (evaluations, windows, approval bases, board
decisions, policy digest) and migration 0002 from a database that only has revision 0001."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, inspect, select, text
from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
    migrate_to,
)

from connector.store import BasisRow, BoardRow, NewBasis, Store, StoredRow, WindowRow
from connector.store import engine as engines
from connector.store.schema import changes
from connector.store.tx import BASES_AT_ONCE

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
PLUS_TWO = timezone(timedelta(hours=2))


def fp(n: int) -> str:
    return f"{n:064x}"


def put(
    store: Store,
    key: str,
    n: int = 1,
    *,
    source: str = "jira",
    findings: str | None = None,
    recheck_at: datetime | None = None,
) -> None:
    store.upsert_change(
        source=source,
        change_key=key,
        native_id=f"id-{key}",
        fingerprint=fp(n),
        updated=T0,
        data=f'{{"key": "{key}", "n": {n}}}',
        findings=findings,
        recheck_at=recheck_at,
    )


def stored(store: Store, key: str, source: str = "jira") -> StoredRow:
    return store.stored_changes(source, [key])[key]


# -- evaluations on `changes` -------------------------------------------------------------------


def test_upsert_stores_findings_and_a_plain_upsert_keeps_them(store: Store) -> None:
    put(store, "OPS-1", 1, findings='["no-plan"]', recheck_at=T0 + H)
    row = stored(store, "OPS-1")
    assert row == StoredRow(
        source="jira",
        key="OPS-1",
        native_id="id-OPS-1",
        fingerprint=fp(1),
        data='{"key": "OPS-1", "n": 1}',
        findings='["no-plan"]',
        recheck_at=T0 + H,
    )
    put(store, "OPS-1", 2)  # no evaluation given: the stored one stays
    row = stored(store, "OPS-1")
    assert (row.fingerprint, row.findings, row.recheck_at) == (fp(2), '["no-plan"]', T0 + H)
    put(store, "OPS-1", 3, findings="[]")  # a new evaluation without a recheck time
    row = stored(store, "OPS-1")
    assert (row.fingerprint, row.findings, row.recheck_at) == (fp(3), "[]", None)
    put(store, "OPS-2", 1)
    assert stored(store, "OPS-2").findings is None
    assert stored(store, "OPS-2").recheck_at is None


def test_upsert_on_conflict_stores_a_new_evaluation(store: Store) -> None:
    put(store, "OPS-1", 1, findings='["a"]', recheck_at=T0)
    put(store, "OPS-1", 1, findings='["b"]', recheck_at=(T0 + 2 * H).astimezone(PLUS_TWO))
    row = stored(store, "OPS-1")
    assert row.findings == '["b"]'
    assert row.recheck_at == T0 + 2 * H
    assert row.recheck_at is not None and row.recheck_at.utcoffset() == timedelta(0)


def test_recheck_without_findings_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="findings"):
        put(store, "OPS-1", recheck_at=T0)
    with pytest.raises(ValueError, match="naive"):
        put(store, "OPS-1", findings="[]", recheck_at=datetime(2024, 5, 1, 12))
    assert store.count_changes() == 0


def test_set_evaluation_touches_only_the_evaluation(store: Store) -> None:
    put(store, "OPS-1", 1)
    before = store.get_change_info("jira", "OPS-1")
    with store.transaction() as tx:
        tx.set_evaluation(source="jira", change_key="OPS-1", findings='["late"]', recheck_at=T0 + H)
        tx.set_evaluation(source="jira", change_key="NOPE-1", findings="[]", recheck_at=None)
    row = stored(store, "OPS-1")
    assert (row.findings, row.recheck_at) == ('["late"]', T0 + H)
    assert store.get_change_info("jira", "OPS-1") == before
    assert store.stored_changes("jira", ["NOPE-1"]) == {}
    assert store.count_changes() == 1
    with store.transaction() as tx:
        tx.set_evaluation(source="jira", change_key="OPS-1", findings="[]", recheck_at=None)
    row = stored(store, "OPS-1")
    assert (row.findings, row.recheck_at) == ("[]", None)
    with pytest.raises(ValueError, match="naive"), store.transaction() as tx:
        tx.set_evaluation(
            source="jira", change_key="OPS-1", findings="[]", recheck_at=datetime(2024, 5, 1)
        )


def test_stored_changes_for_a_page_larger_than_one_in_list(store: Store) -> None:
    with store.transaction() as tx:
        for n in range(1200):
            tx.upsert_change(
                source="jira",
                change_key=f"K-{n}",
                native_id=str(n),
                fingerprint=fp(n),
                updated=T0,
                data=str(n),
                findings=f'["{n}"]' if n % 2 else None,
            )
    put(store, "K-5", 5, source="snow")
    found = store.stored_changes("jira", [f"K-{n}" for n in range(1300)] + ["K-7"])
    assert len(found) == 1200
    assert found["K-1199"].fingerprint == fp(1199)
    assert found["K-1199"].findings == '["1199"]'
    assert found["K-1198"].findings is None
    assert found["K-5"].source == "jira" and found["K-5"].data == "5"
    assert store.stored_changes("jira", []) == {}
    assert store.stored_changes("snow", ["K-5", "K-6"])["K-5"].source == "snow"


def test_iter_stored_streams_every_row_in_order(store: Store) -> None:
    with store.transaction() as tx:
        for n in range(1100, 0, -1):
            tx.upsert_change(
                source="jira",
                change_key=f"K-{n:05d}",
                native_id=str(n),
                fingerprint=fp(n),
                updated=T0,
                data=str(n),
                findings="[]" if n == 3 else None,
                recheck_at=T0 if n == 3 else None,
            )
    put(store, "A-1", 1, source="snow", findings='["x"]')
    everything = list(store.iter_stored())
    assert len(everything) == 1101
    assert [(r.source, r.key) for r in everything[:2]] == [("jira", "K-00001"), ("jira", "K-00002")]
    assert everything[-1].source == "snow"
    jira = list(store.iter_stored("jira"))
    assert len(jira) == 1100
    assert (jira[2].key, jira[2].findings, jira[2].recheck_at) == ("K-00003", "[]", T0)
    assert [r.findings for r in store.iter_stored("snow")] == ['["x"]']
    stream = store.iter_stored()
    assert next(stream).key == "K-00001"
    stream.close()
    assert store.count_changes() == 1101


def test_due_for_recheck_order_limit_and_boundary(store: Store) -> None:
    put(store, "B", findings="[]", recheck_at=T0 - H)
    put(store, "A", findings="[]", recheck_at=T0 - H)
    put(store, "C", findings="[]", recheck_at=T0 - 2 * H)
    put(store, "D", findings="[]", recheck_at=T0)  # exactly now: due
    put(store, "E", findings="[]", recheck_at=T0 + timedelta(microseconds=1))
    put(store, "F", findings="[]")  # never
    put(store, "G")  # not evaluated
    put(store, "X", source="snow", findings="[]", recheck_at=T0 - 3 * H)
    assert store.due_for_recheck("jira", now=T0) == ["C", "A", "B", "D"]
    assert store.due_for_recheck("jira", now=T0.astimezone(PLUS_TWO)) == ["C", "A", "B", "D"]
    assert store.due_for_recheck("jira", now=T0, limit=2) == ["C", "A"]
    assert store.due_for_recheck("jira", now=T0 - 3 * H) == []
    assert store.due_for_recheck("jira", now=T0 + H) == ["C", "A", "B", "D", "E"]
    assert store.due_for_recheck("snow", now=T0) == ["X"]
    with store.transaction() as tx:
        tx.set_evaluation(source="jira", change_key="C", findings="[]", recheck_at=None)
    assert store.due_for_recheck("jira", now=T0) == ["A", "B", "D"]


def test_due_by_window_orders_by_the_earliest_window_start(store: Store) -> None:
    for key in ("A", "B", "C", "D", "E"):
        put(store, key, findings="[]", recheck_at=T0 - H)
    put(store, "F", findings="[]", recheck_at=T0 + H)  # not due yet
    put(store, "G", source="snow", findings="[]", recheck_at=T0 - H)
    with store.transaction() as tx:
        tx.set_windows(
            source="jira", change_key="A", windows=[("db", T0 + 9 * H, T0 + 10 * H, True)]
        )
        tx.set_windows(  # its earliest window counts
            source="jira",
            change_key="B",
            windows=[("db", T0 + 8 * H, T0 + 9 * H, False), ("net", T0 + 2 * H, T0 + 3 * H, True)],
        )
        tx.set_windows(
            source="jira", change_key="D", windows=[("db", T0 + 2 * H, T0 + 4 * H, True)]
        )
        tx.set_windows(source="jira", change_key="F", windows=[("db", T0, T0 + H, True)])
        tx.set_windows(source="snow", change_key="A", windows=[("db", T0 - 9 * H, T0, True)])
    # No window first (C, E by key), then by the earliest start (B and D tie: by key), A last.
    assert store.due_by_window("jira", now=T0, limit=9) == ["C", "E", "B", "D", "A"]
    assert store.due_by_window("jira", now=T0, limit=3) == ["C", "E", "B"]
    assert store.due_by_window("jira", now=T0 + H, limit=9) == ["C", "E", "F", "B", "D", "A"]
    assert store.due_by_window("snow", now=T0, limit=9) == ["G"]
    assert store.due_by_window("jira", now=T0 - 2 * H, limit=9) == []


def test_recheck_makes_changes_due_and_keeps_a_sooner_recheck(store: Store) -> None:
    put(store, "A", findings="[]")  # never due
    put(store, "B", findings="[]", recheck_at=T0 - H)  # due sooner: stays
    put(store, "C", findings="[]", recheck_at=T0 + 5 * H)  # due later: brought forward
    put(store, "D", findings="[]")
    put(store, "A", source="snow", findings="[]")  # another source's A
    with store.transaction() as tx:
        tx.recheck(source="jira", change_keys=["A", "B", "C", "NOT-STORED"], at=T0)
        tx.recheck(source="jira", change_keys=[], at=T0 - 9 * H)  # nothing to do
    assert store.due_for_recheck("jira", now=T0) == ["B", "A", "C"]
    assert stored(store, "B").recheck_at == T0 - H
    assert stored(store, "D").recheck_at is None
    assert store.due_for_recheck("snow", now=T0 + 9 * H) == []
    with pytest.raises(ValueError, match="timezone"), store.transaction() as tx:
        tx.recheck(source="jira", change_keys=["D"], at=T0.replace(tzinfo=None))


def test_stale_answers_and_the_basis_they_are_all_taken_under(store: Store) -> None:
    put(store, "A", findings="[]")  # no answers
    put(store, "B", findings="[]")
    put(store, "C", findings="[]")
    put(store, "D", findings="[]")
    put(store, "A", source="snow", findings="[]")
    with store.transaction() as tx:
        reports = {"B": '["old",1]', "C": '["new",1]', "D": '["newer",1]', "NOT-STORED": "[]"}
        tx.set_reports(source="jira", reports=reports)
        tx.set_reports(source="jira", reports={})
    assert store.stale_answers("jira", prefix='["new",') == ["A", "B", "D"]
    assert store.stale_answers("jira", prefix='["new",', after="A", limit=1) == ["B"]
    assert store.stale_answers("jira", prefix='["new",', after="D") == []
    assert store.stale_answers("snow", prefix='["new",') == ["A"]
    assert stored(store, "C").findings == "[]"  # the evaluation stays as it was

    assert store.answers_basis("jira") is None
    with store.transaction() as tx:
        tx.set_answers_basis("jira", "b1")  # no policy digest stored yet: nothing to mark
    assert store.answers_basis("jira") is None
    with store.transaction() as tx:
        tx.set_policy_digest("jira", fp(1))
        tx.set_answers_basis("jira", "b1")
    assert (store.answers_basis("jira"), store.answers_basis("snow")) == ("b1", None)
    with store.transaction() as tx:
        tx.set_policy_digest("jira", fp(2))  # a new policy keeps the marker: the basis has it
    assert (store.policy_digest("jira"), store.answers_basis("jira")) == (fp(2), "b1")


# -- change_windows -----------------------------------------------------------------------------


def test_set_windows_replaces_and_deletes(store: Store) -> None:
    with store.transaction() as tx:
        tx.set_windows(
            source="jira",
            change_key="OPS-1",
            windows=[("db", T0, T0 + H, True), ("app", T0 + H, T0 + 2 * H, False)],
        )
        tx.set_windows(source="jira", change_key="OPS-2", windows=[("db", T0, T0 + H, False)])
        tx.set_windows(source="snow", change_key="OPS-1", windows=[("db", T0, T0 + H, True)])
    assert store.windows_of("jira", ["OPS-1"]) == [
        WindowRow(change_key="OPS-1", system="db", starts_at=T0, ends_at=T0 + H, approved=True),
        WindowRow(
            change_key="OPS-1", system="app", starts_at=T0 + H, ends_at=T0 + 2 * H, approved=False
        ),
    ]
    with store.transaction() as tx:
        tx.set_windows(
            source="jira", change_key="OPS-1", windows=[("net", T0 + 3 * H, T0 + 4 * H, False)]
        )
    assert store.windows_of("jira", ["OPS-1", "OPS-2", "OPS-1"]) == [
        WindowRow("OPS-1", "net", T0 + 3 * H, T0 + 4 * H, False),
        WindowRow("OPS-2", "db", T0, T0 + H, False),
    ]
    with store.transaction() as tx:
        tx.set_windows(source="jira", change_key="OPS-1", windows=[])
    assert store.windows_of("jira", ["OPS-1"]) == []
    assert store.windows_of("jira", ["OPS-2"]) == [WindowRow("OPS-2", "db", T0, T0 + H, False)]
    assert store.windows_of("snow", ["OPS-1"]) == [WindowRow("OPS-1", "db", T0, T0 + H, True)]
    assert store.windows_of("jira", []) == []


def test_set_windows_refuses_two_windows_on_one_system(store: Store) -> None:
    with store.transaction() as tx:
        tx.set_windows(source="jira", change_key="OPS-1", windows=[("db", T0, T0 + H, True)])
    with pytest.raises(ValueError, match="one window per system"), store.transaction() as tx:
        tx.set_windows(
            source="jira",
            change_key="OPS-1",
            windows=[("db", T0, T0 + H, True), ("db", T0 + 2 * H, T0 + 3 * H, True)],
        )
    assert store.windows_of("jira", ["OPS-1"]) == [WindowRow("OPS-1", "db", T0, T0 + H, True)]


def test_policy_writes_refuse_naive_datetimes(store: Store) -> None:
    naive = datetime(2024, 5, 1, 12)
    with store.transaction() as tx:
        tx.set_windows(source="jira", change_key="OPS-1", windows=[("db", T0, T0 + H, True)])
    with pytest.raises(ValueError, match="naive"), store.transaction() as tx:
        tx.set_windows(source="jira", change_key="OPS-1", windows=[("db", T0, naive, True)])
    with pytest.raises(ValueError, match="naive"), store.transaction() as tx:
        tx.record_basis(
            source="jira",
            change_key="OPS-1",
            approvals_digest=fp(1),
            covered="{}",
            recorded_at=naive,
        )
    with pytest.raises(ValueError, match="naive"), store.transaction() as tx:
        tx.add_board_decision(
            source="jira",
            change_key="OPS-1",
            decision="approve",
            decided_by="a",
            note="",
            decided_at=naive,
        )
    assert store.windows_of("jira", ["OPS-1"]) == [WindowRow("OPS-1", "db", T0, T0 + H, True)]
    assert store.approval_bases("jira", ["OPS-1"]) == {}
    assert store.board_decisions("jira", ["OPS-1"]) == {}
    with pytest.raises(ValueError):
        store.due_for_recheck("jira", now=naive)


def test_windows_overlapping_boundaries_and_filters(store: Store) -> None:
    with store.transaction() as tx:
        tx.set_windows(source="jira", change_key="BEFORE", windows=[("db", T0 - H, T0, True)])
        tx.set_windows(
            source="jira", change_key="AFTER", windows=[("db", T0 + H, T0 + 2 * H, True)]
        )
        tx.set_windows(
            source="jira",
            change_key="INSIDE",
            windows=[("db", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), False)],
        )
        tx.set_windows(
            source="jira",
            change_key="COVERS",
            windows=[("db", T0 - H, T0 + 2 * H, True), ("app", T0 - H, T0 + 2 * H, False)],
        )
        tx.set_windows(
            source="jira",
            change_key="TAIL",
            # 11:59:59.999999 UTC .. 13:00:00.000001 UTC, given in +02:00
            windows=[("app", (T0 - timedelta(microseconds=1)).astimezone(PLUS_TWO), T0 + H, True)],
        )
        tx.set_windows(
            source="jira", change_key="HEAD", windows=[("net", T0, T0 + timedelta(minutes=1), True)]
        )
        tx.set_windows(source="snow", change_key="OTHER", windows=[("db", T0, T0 + H, True)])

    def keys(systems: list[str], start: datetime, end: datetime) -> list[tuple[str, str]]:
        rows = store.windows_overlapping("jira", systems=systems, start=start, end=end)
        return [(r.change_key, r.system) for r in rows]

    # [T0, T0+1h): the windows ending at T0 and starting at T0+1h only touch it
    assert keys(["db"], T0, T0 + H) == [("COVERS", "db"), ("INSIDE", "db")]
    assert keys(["db", "app"], T0, T0 + H) == [
        ("COVERS", "app"),
        ("COVERS", "db"),
        ("TAIL", "app"),
        ("INSIDE", "db"),
    ]
    assert keys(["db", "app", "net"], T0, T0 + H)[-2:] == [("HEAD", "net"), ("INSIDE", "db")]
    assert keys(["net"], T0 - H, T0) == []  # HEAD starts exactly at the end
    assert keys(["db"], T0 - timedelta(microseconds=1), T0 + H) == [
        ("BEFORE", "db"),
        ("COVERS", "db"),
        ("INSIDE", "db"),
    ]
    # the same instant given in another offset
    assert keys(["db"], T0.astimezone(PLUS_TWO), (T0 + H).astimezone(PLUS_TWO)) == [
        ("COVERS", "db"),
        ("INSIDE", "db"),
    ]
    assert keys(["nope"], T0, T0 + H) == []
    assert keys([], T0, T0 + H) == []
    rows = store.windows_overlapping("jira", systems={"app"}, start=T0 + H, end=T0 + 2 * H)
    assert rows == [WindowRow("COVERS", "app", T0 - H, T0 + 2 * H, False)]
    assert rows[0].starts_at.tzinfo is UTC
    assert store.windows_overlapping("snow", systems=["db"], start=T0, end=T0 + H) == [
        WindowRow("OTHER", "db", T0, T0 + H, True)
    ]
    with pytest.raises(ValueError):
        store.windows_overlapping("jira", systems=["db"], start=datetime(2024, 5, 1), end=T0)


def test_windows_near_finds_every_overlap_the_longest_window_reaches(store: Store) -> None:
    # A long window starting a day before a span, short ones around it, and ones elsewhere.
    with store.transaction() as tx:
        tx.set_windows(
            source="jira", change_key="LONG", windows=[("db", T0 - 24 * H, T0 + H, True)]
        )
        tx.set_windows(source="jira", change_key="SHORT", windows=[("db", T0 - H, T0, False)])
        tx.set_windows(
            source="jira", change_key="NEXT", windows=[("db", T0 + 30 * H, T0 + 31 * H, True)]
        )
        tx.set_windows(source="jira", change_key="APP", windows=[("app", T0, T0 + H, True)])
        tx.set_windows(
            source="snow", change_key="OTHER", windows=[("db", T0 - 48 * H, T0 + H, True)]
        )
    reach = store.window_reach("jira")
    assert reach["db"] >= 25 * H and reach["db"] <= 25 * H + timedelta(seconds=1)
    assert reach["app"] >= H and "net" not in reach

    def near(spans: list[tuple[str, datetime, datetime]], **kw: bool) -> set[str]:
        return {r.change_key for r in store.windows_near("jira", spans, reach=reach, **kw)}

    # Near, not necessarily overlapping: every window starting within the reach before a span.
    assert near([("db", T0, T0 + timedelta(minutes=5))]) == {"LONG", "SHORT"}
    assert near([("db", T0, T0 + timedelta(minutes=5))], approved_only=True) == {"LONG"}
    # Two spans far apart on one system, one on another: each row once.
    spans = [("db", T0, T0 + H), ("db", T0 + 30 * H, T0 + 32 * H), ("app", T0, T0 + H)]
    rows = store.windows_near("jira", spans, reach=reach)
    assert sorted(r.change_key for r in rows) == ["APP", "LONG", "NEXT", "SHORT"]
    # 40 ranges: more than one statement's worth, the same rows.
    many = [("db", T0 + 30 * H + i * timedelta(minutes=1), T0 + 31 * H) for i in range(40)]
    assert near([*many, ("db", T0, T0 + H)]) == {"LONG", "SHORT", "NEXT"}
    # Without the reach, the long window starting a day before is not near.
    assert store.windows_near("jira", [("db", T0, T0 + H)], reach={}) == []
    # Only the windows of changes not due for a recheck (a pass evaluating what is due reads
    # its partners so): LONG never evaluated yet, SHORT due before T0, NEXT due after it.
    with store.transaction() as tx:
        for key, recheck in (("LONG", None), ("SHORT", T0 - H), ("NEXT", T0 + H)):
            tx.upsert_change(
                source="jira",
                change_key=key,
                native_id=key,
                fingerprint="f" * 64,
                updated=T0,
                data="{}",
                findings="[]",
                recheck_at=recheck,
            )
        tx.recheck(source="jira", change_keys=["LONG"], at=T0)  # due now
    everything = [("db", T0 - 30 * H, T0 + 40 * H)]
    assert near(everything) == {"LONG", "SHORT", "NEXT"}
    assert {
        r.change_key for r in store.windows_near("jira", everything, reach=reach, not_due_at=T0)
    } == {"NEXT"}
    later = T0 + 2 * H  # NEXT due by then too
    assert store.windows_near("jira", everything, reach=reach, not_due_at=later) == []
    earlier = T0 - 2 * H  # none due yet
    assert near(everything) == {
        r.change_key
        for r in store.windows_near("jira", everything, reach=reach, not_due_at=earlier)
    }
    assert near([("net", T0, T0 + H)]) == set()


# -- approval_bases, board_decisions, policy_state ----------------------------------------------


def test_record_basis_inserts_once(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.record_basis(
            source="jira",
            change_key="OPS-1",
            approvals_digest=fp(1),
            covered='{"plan": "aa"}',
            recorded_at=T0,
        )
        again = tx.record_basis(
            source="jira",
            change_key="OPS-1",
            approvals_digest=fp(1),
            covered='{"plan": "bb"}',
            recorded_at=T0 + H,
        )
    assert (first, again) == (True, False)
    with store.transaction() as tx:
        assert tx.record_basis(
            source="jira",
            change_key="OPS-1",
            approvals_digest=fp(1),
            covered="{}",
            recorded_at=T0,
        ) is False  # fmt: skip
        assert tx.record_basis(
            source="jira",
            change_key="OPS-1",
            approvals_digest=fp(2),
            covered='{"plan": "cc"}',
            recorded_at=(T0 - H).astimezone(PLUS_TWO),
        )
        assert tx.record_basis(
            source="snow", change_key="OPS-1", approvals_digest=fp(1), covered="{}", recorded_at=T0
        )
        assert tx.record_basis(
            source="jira", change_key="OPS-2", approvals_digest=fp(1), covered="{}", recorded_at=T0
        )
    bases = store.approval_bases("jira", ["OPS-1", "OPS-3"])
    assert bases == {
        "OPS-1": [
            BasisRow(approvals_digest=fp(2), covered='{"plan": "cc"}', recorded_at=T0 - H),
            BasisRow(approvals_digest=fp(1), covered='{"plan": "aa"}', recorded_at=T0),
        ]
    }
    assert store.approval_bases("jira", []) == {}
    assert store.approval_bases("snow", ["OPS-1"]) == {"OPS-1": [BasisRow(fp(1), "{}", T0)]}
    with pytest.raises(ValueError, match="64"), store.transaction() as tx:
        tx.record_basis(
            source="jira", change_key="OPS-9", approvals_digest="ab", covered="{}", recorded_at=T0
        )
    assert store.approval_bases("jira", ["OPS-9"]) == {}


def test_record_bases_inserts_many_at_once_and_names_only_the_new_ones(store: Store) -> None:
    with store.transaction() as tx:
        tx.record_basis(
            source="jira", change_key="OPS-2", approvals_digest=fp(2), covered="{}", recorded_at=T0
        )
    bases = [
        NewBasis(
            change_key=f"OPS-{n}", approvals_digest=fp(n), covered=f'{{"n": {n}}}', recorded_at=T0
        )
        for n in range(1, 5)
    ]
    with store.transaction() as tx:
        new = tx.record_bases(source="jira", bases=[*bases, bases[0]])  # one twice: once
        assert tx.record_bases(source="jira", bases=[]) == set()
    assert new == {("OPS-1", fp(1)), ("OPS-3", fp(3)), ("OPS-4", fp(4))}
    stored = store.approval_bases("jira", ["OPS-1", "OPS-2", "OPS-3", "OPS-4"])
    assert {k: [r.covered for r in rows] for k, rows in stored.items()} == {
        "OPS-1": ['{"n": 1}'], "OPS-2": ["{}"], "OPS-3": ['{"n": 3}'], "OPS-4": ['{"n": 4}'],
    }  # fmt: skip
    with store.transaction() as tx:
        assert tx.record_bases(source="jira", bases=bases) == set()


def test_record_bases_names_every_new_one_of_more_than_one_statement_takes(store: Store) -> None:
    bases = [
        NewBasis(change_key=f"OPS-{n}", approvals_digest=fp(n), covered="{}", recorded_at=T0)
        for n in range(1, BASES_AT_ONCE * 2 + 6)
    ]
    with store.transaction() as tx:
        new = tx.record_bases(source="jira", bases=bases[1:])
        assert tx.record_bases(source="jira", bases=bases) == {("OPS-1", fp(1))}
    assert new == {(b.change_key, b.approvals_digest) for b in bases[1:]}
    assert len(store.approval_bases("jira", [b.change_key for b in bases])) == len(bases)


def test_board_decisions_append_in_decision_order(store: Store) -> None:
    with store.transaction() as tx:
        late = tx.add_board_decision(
            source="jira",
            change_key="OPS-1",
            decision="approve",
            decided_by="alice",
            note="after the fix",
            decided_at=T0 + H,
        )
        early = tx.add_board_decision(
            source="jira",
            change_key="OPS-1",
            decision="reject",
            decided_by="bob",
            note="",
            decided_at=(T0 - H).astimezone(PLUS_TWO),
        )
        tie = tx.add_board_decision(
            source="jira",
            change_key="OPS-1",
            decision="approve",
            decided_by="carol",
            note="same minute",
            decided_at=T0 + H,
        )
        other = tx.add_board_decision(
            source="jira",
            change_key="OPS-2",
            decision="reject",
            decided_by="bob",
            note="",
            decided_at=T0,
        )
    assert len({late, early, tie, other}) == 4
    assert late < tie
    decisions = store.board_decisions("jira", ["OPS-1", "OPS-2", "OPS-3"])
    assert set(decisions) == {"OPS-1", "OPS-2"}
    assert decisions["OPS-1"] == [
        BoardRow(early, "OPS-1", "reject", "bob", "", T0 - H),
        BoardRow(late, "OPS-1", "approve", "alice", "after the fix", T0 + H),
        BoardRow(tie, "OPS-1", "approve", "carol", "same minute", T0 + H),
    ]
    assert decisions["OPS-2"] == [BoardRow(other, "OPS-2", "reject", "bob", "", T0)]
    assert store.board_decisions("snow", ["OPS-1"]) == {}


def test_policy_digest_upsert(store: Store) -> None:
    assert store.policy_digest("jira") is None
    with store.transaction() as tx:
        tx.set_policy_digest("jira", fp(1))
        tx.set_policy_digest("snow", fp(9))
    with store.transaction() as tx:
        tx.set_policy_digest("jira", fp(2))
    assert store.policy_digest("jira") == fp(2)
    assert store.policy_digest("snow") == fp(9)
    with pytest.raises(ValueError, match="64"), store.transaction() as tx:
        tx.set_policy_digest("jira", "short")
    assert store.policy_digest("jira") == fp(2)


def test_policy_writes_roll_back_with_the_transaction(store: Store) -> None:
    put(store, "OPS-1", findings='["old"]')
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        tx.set_evaluation(source="jira", change_key="OPS-1", findings='["new"]', recheck_at=T0)
        tx.set_windows(source="jira", change_key="OPS-1", windows=[("db", T0, T0 + H, True)])
        tx.record_basis(
            source="jira", change_key="OPS-1", approvals_digest=fp(1), covered="{}", recorded_at=T0
        )
        tx.add_board_decision(
            source="jira",
            change_key="OPS-1",
            decision="approve",
            decided_by="a",
            note="",
            decided_at=T0,
        )
        tx.set_policy_digest("jira", fp(1))
        raise RuntimeError("boom")
    assert stored(store, "OPS-1").findings == '["old"]'
    assert store.windows_of("jira", ["OPS-1"]) == []
    assert store.approval_bases("jira", ["OPS-1"]) == {}
    assert store.board_decisions("jira", ["OPS-1"]) == {}
    assert store.policy_digest("jira") is None


# -- migration 0002 -----------------------------------------------------------------------------


def _version(raw_engine: Engine) -> str:
    with raw_engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


POLICY_TABLES = {"change_windows", "approval_bases", "board_decisions", "policy_state"}


def test_migration_from_0001_keeps_existing_rows(store_url: str, raw_engine: Engine) -> None:
    migrate_to(store_url, "0001")
    assert _version(raw_engine) == "0001"
    assert not POLICY_TABLES & set(inspect(raw_engine).get_table_names())
    with raw_engine.begin() as conn:  # only the columns revision 0001 has
        conn.execute(
            insert(changes).values(
                source="jira",
                key="OPS-1",
                native_id="10001",
                fingerprint=fp(1),
                updated=T0,
                data='{"key": "OPS-1"}',
                first_seen_at=T0,
                synced_at=T0 + H,
            )
        )
    with Store.open(store_url) as store:
        assert _version(raw_engine) == engines.head_revision()
        assert store.stored_changes("jira", ["OPS-1"]) == {
            "OPS-1": StoredRow("jira", "OPS-1", "10001", fp(1), '{"key": "OPS-1"}', None, None)
        }
        info = store.get_change_info("jira", "OPS-1")
        assert info is not None and (info.first_seen_at, info.synced_at) == (T0, T0 + H)
        with store.transaction() as tx:
            tx.set_evaluation(source="jira", change_key="OPS-1", findings="[]", recheck_at=T0)
            tx.set_windows(source="jira", change_key="OPS-1", windows=[("db", T0, T0 + H, True)])
        assert store.due_for_recheck("jira", now=T0) == ["OPS-1"]
    names = set(inspect(raw_engine).get_table_names())
    assert names >= POLICY_TABLES
    indexes = {ix["name"] for ix in inspect(raw_engine).get_indexes("changes")}
    assert "ix_changes_source_recheck_at" in indexes


def test_migration_0002_downgrades_and_upgrades_again(store_url: str, raw_engine: Engine) -> None:
    with Store.open(store_url) as store:
        put(store, "OPS-1", 1, findings='["x"]', recheck_at=T0)
    migrate_to(store_url, "0001", down=True)
    assert _version(raw_engine) == "0001"
    assert not POLICY_TABLES & set(inspect(raw_engine).get_table_names())
    columns = {c["name"] for c in inspect(raw_engine).get_columns("changes")}
    assert not {"findings", "recheck_at"} & columns
    with raw_engine.connect() as conn:
        assert conn.execute(select(changes.c.key, changes.c.fingerprint)).all() == [
            ("OPS-1", fp(1))
        ]
    with Store.open(store_url) as store:
        assert stored(store, "OPS-1").findings is None
        assert store.fingerprint("jira", "OPS-1") == fp(1)


def test_approval_bases_keep_the_snapshot_and_audit_reads_per_ticket(store_url: str) -> None:
    with Store.open(store_url) as store:
        with store.transaction() as tx:
            assert tx.record_basis(
                source="jira",
                change_key="CHG-1",
                approvals_digest=fp(7),
                covered="{}",
                recorded_at=T0,
                snapshot='{"key": "CHG-1"}',
            )
            for n, key in enumerate(("CHG-1", "CHG-2", "CHG-1")):
                tx.append_audit(
                    source="jira", ticket_key=key, event=f"e{n}", actor="w", detail={"n": n}
                )
        (basis,) = store.approval_bases("jira", ["CHG-1"])["CHG-1"]
        assert basis.snapshot == '{"key": "CHG-1"}'
        assert [r.event for r in store.audit_for("jira", "CHG-1")] == ["e0", "e2"]
        head = store.audit_head()
        assert head is not None and head.event == "e2"
        assert store.verify_audit() is None

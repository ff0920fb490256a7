"""Store: what a report reads in bulk (`report_answers_all`): every change updated in the
period with its stored answers, whether its recheck fell due by the report's clock (compared in
SQL, to the microsecond, whatever offset the clock is given in) and whether it was recorded as
deleted. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_store,
    fixture_store_url,
)

from connector.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
PLUS_TWO = timezone(timedelta(hours=2))


def put(
    store: Store,
    key: str,
    *,
    updated: datetime = T0,
    recheck_at: datetime | None = None,
    report: str | None = "[]",
) -> None:
    with store.transaction() as tx:
        tx.upsert_change(
            source="jira",
            change_key=key,
            native_id=f"id-{key}",
            fingerprint=f"{len(key):064x}",
            updated=updated,
            data=f'{{"key": "{key}"}}',
            findings="[]",
            recheck_at=recheck_at,
            report=report,
        )


def test_report_answers_say_which_rechecks_fell_due_and_which_changes_were_deleted(
    store: Store,
) -> None:
    now = T0 + timedelta(days=2, microseconds=5)
    put(store, "OPS-never")  # no recheck
    put(store, "OPS-due-earlier", recheck_at=now - timedelta(days=1))
    put(store, "OPS-due-now", recheck_at=now)  # due at the very moment of the report
    put(store, "OPS-one-us-later", recheck_at=now + US)
    put(store, "OPS-later", recheck_at=(now + timedelta(hours=3)).astimezone(PLUS_TWO))
    put(store, "OPS-no-answers", report=None)
    put(store, "OPS-old", updated=T0 - timedelta(days=30))  # not updated in the period
    put(store, "OPS-gone")
    assert store.mark_deleted(source="jira", change_key="OPS-gone", reason="404", actor="test")
    since = T0 - timedelta(days=1)
    for clock in (now, now.astimezone(PLUS_TWO)):
        got = {
            key: (report, due, deleted)
            for key, report, due, deleted in store.report_answers_all(
                "jira", updated_since=since, now=clock
            )
        }
        assert got == {
            "OPS-never": ("[]", False, False),
            "OPS-due-earlier": ("[]", True, False),
            "OPS-due-now": ("[]", True, False),
            "OPS-one-us-later": ("[]", False, False),
            "OPS-later": ("[]", False, False),
            "OPS-no-answers": (None, False, False),
            "OPS-gone": ("[]", False, True),
        }
        assert all(type(v) is bool for _, due, deleted in got.values() for v in (due, deleted))
    assert list(store.report_answers_all("other", updated_since=since, now=now)) == []

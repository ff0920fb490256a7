"""Posting chat notifications through the ledger (SQLite and PostgreSQL): each planned post is
made once; a post whose fate is unknown (the worker died mid-post, a timeout, a 5xx) is never
made again (at most once); a refusal that proves nothing was posted is retried later; without
a notifier the posts stay pending."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401

from connector.core.errors import ConfigError, ConnectorError
from connector.core.model import Change, ChangeType, Source, Status, SystemKind
from connector.core.notify.plan import notify_actions
from connector.core.notify.settings import NotifyChannel
from connector.core.planner import Action
from connector.core.policy import Context, Finding, PolicySettings, Severity, evaluate
from connector.store import Store
from connector.sync.executor import SENDING, UNCERTAIN, Executor, Outcome
from connector.sync.recording import record_action
from connector.systems.http import RemoteTransientError

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
URL = "https://hooks.slack.com/services/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"


class FakeChat:
    def __init__(self, fail: list[ConnectorError] | None = None) -> None:
        self.posts: list[tuple[str, str]] = []
        self.fail = list(fail or [])

    def post(self, name: str, body: str, *, delivery: str, mark: Callable[[bool], None]) -> str:
        mark(True)
        if self.fail:
            raise self.fail.pop(0)
        self.posts.append((name, delivery))
        return "200 ok"


class NoWriter:
    edits_in_place = True

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a chat post must not touch the ticket ({name})")


def planned(store: Store) -> Action:
    change = Change.model_validate(
        {
            "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
            "key": "CHG-9",
            "native_id": "10009",
            "title": "Hotfix",
            "change_type": ChangeType.NORMAL,
            "status": Status.IMPLEMENTING,
            "created": NOW - timedelta(days=1),
            "updated": NOW,
        }
    )
    ev = evaluate(change, Context(now=NOW, policy=PolicySettings()))
    unauthorized = Finding(rule="unauthorized", severity=Severity.BLOCK, message="no approval")
    ev = type(ev)(findings=(unauthorized,), approvals=ev.approvals)
    channel = NotifyChannel(name="ops", kind="slack", url=URL, events=("unauthorized",))
    (action,) = notify_actions(change, ev, [channel])
    with store.transaction() as tx:
        assert record_action(tx, action)
    return action


def executor(
    store: Store, chat: FakeChat | None, *, worker: str = "w1", at: datetime = NOW
) -> Executor:
    return Executor(
        store=store,
        writer=NoWriter(),  # type: ignore[arg-type]
        worker=worker,
        lease_seconds=60,
        clock=lambda: at,
        notifier=chat,
    )


def test_posted_once_and_recorded(store: Store) -> None:
    action = planned(store)
    chat = FakeChat()
    assert executor(store, chat).apply_pending("acme-jira") == {Outcome.WRITTEN: 1}
    assert executor(store, chat).apply_pending("acme-jira") == {}
    assert chat.posts == [("ops", action.idempotency_key)]
    entry = store.ledger_get(action.idempotency_key)
    assert entry is not None and (entry.state, entry.remote_ref) == ("applied", "200 ok")
    events = [a.event for a in store.audit_for(source="acme-jira", ticket_key="CHG-9")]
    assert "action.notify.written" in events


def test_a_worker_that_died_mid_post_is_not_posted_again(store: Store) -> None:
    action = planned(store)
    key = action.idempotency_key
    # The first worker claimed the post and marked it as being sent, then died.
    claim = store.ledger_claim(
        key,
        source="acme-jira",
        ticket_key="CHG-9",
        action=action.purpose,
        content_fingerprint=action.content_fingerprint,
        worker="dead",
        lease_seconds=60,
        now=NOW,
    )
    assert claim is not None and store.ledger_mark(key, worker="dead", remote_ref=SENDING)
    chat = FakeChat()
    assert executor(store, chat, worker="w2").apply_pending("acme-jira") == {}  # lease is live
    later = NOW + timedelta(seconds=61)
    outcome = executor(store, chat, worker="w2", at=later).apply_pending("acme-jira")
    assert outcome == {Outcome.UNCERTAIN: 1}
    assert chat.posts == []
    entry = store.ledger_get(key)
    assert entry is not None and (entry.state, entry.remote_ref) == ("applied", UNCERTAIN)


def test_an_answer_lost_after_sending_is_not_posted_again(store: Store) -> None:
    action = planned(store)
    lost = RemoteTransientError("notify.ops: post: Slack answered 503", status=503)
    chat = FakeChat(fail=[lost])
    assert executor(store, chat).apply_pending("acme-jira") == {Outcome.UNCERTAIN: 1}
    assert executor(store, chat).apply_pending("acme-jira") == {}
    assert chat.posts == []
    entry = store.ledger_get(action.idempotency_key)
    assert entry is not None and entry.remote_ref == UNCERTAIN


@pytest.mark.parametrize(
    "refusal",
    [
        RemoteTransientError("notify.ops: post: Slack answered 429", maybe_applied=False),
        ConfigError("notify.ops: post: Slack answered 404: no_service"),
    ],
    ids=["rate-limited", "no-service"],
)
def test_a_refusal_that_proves_nothing_was_posted_is_retried(
    store: Store, refusal: ConnectorError
) -> None:
    action = planned(store)
    chat = FakeChat(fail=[refusal])
    assert executor(store, chat).apply_pending("acme-jira") == {Outcome.FAILED: 1}
    entry = store.ledger_get(action.idempotency_key)
    assert entry is not None and entry.state == "failed" and entry.remote_ref is None
    assert "notify.ops" in (entry.error or "")
    assert executor(store, chat).apply_pending("acme-jira") == {Outcome.WRITTEN: 1}
    assert chat.posts == [("ops", action.idempotency_key)]


def test_without_a_notifier_posts_stay_pending(open_store: Callable[[], Store]) -> None:
    store = open_store()
    action = planned(store)
    assert executor(store, None).apply_pending("acme-jira") == {Outcome.DEFERRED: 1}
    entry = store.ledger_get(action.idempotency_key)
    assert entry is not None and entry.state == "planned"
    chat = FakeChat()
    assert executor(store, chat).apply_pending("acme-jira") == {Outcome.WRITTEN: 1}


def test_a_claim_taken_over_meanwhile_is_not_posted(store: Store) -> None:
    action = planned(store)

    class SlowChat(FakeChat):
        def post(self, name: str, body: str, *, delivery: str, mark: Callable[[bool], None]) -> str:
            # This worker outlived its lease while waiting: another one took the claim.
            taken = store.ledger_claim(
                action.idempotency_key,
                source="acme-jira",
                ticket_key="CHG-9",
                action=action.purpose,
                content_fingerprint=action.content_fingerprint,
                worker="w2",
                lease_seconds=60,
                now=NOW + timedelta(minutes=5),
            )
            assert taken is not None
            return super().post(name, body, delivery=delivery, mark=mark)

    chat = SlowChat()
    assert executor(store, chat).apply_pending("acme-jira") == {Outcome.HELD: 1}
    assert chat.posts == []

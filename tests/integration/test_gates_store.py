"""Deployment gates on the store, SQLite and PostgreSQL: held deploys answered exactly once,
deployments recorded once with their audit links, `POST /gates` and `POST /deployments` behind
the gate token, and an unauthorized deployment in every format of the report."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from store_fixtures import fixture_open_store, fixture_store, fixture_store_url  # noqa: F401
from test_webhooks import Running, serve_app, stop

from connector.core.deploy import Deployment, DeploySettings, GateDecision, Verdict
from connector.core.errors import PermanentError
from connector.core.model import (
    Approval,
    Change,
    ChangeType,
    Decision,
    Person,
    SecurityImpact,
    SecurityLevel,
    Source,
    Status,
    SystemKind,
)
from connector.reports.build import build_report
from connector.reports.render import render
from connector.serve.metrics import Metrics
from connector.serve.webhooks import build_app
from connector.settings import Settings
from connector.store import Store
from connector.store.deployments import WaitRow
from connector.sync import gates

TOKEN = "gate-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)
SETTINGS = Settings(
    deploy=DeploySettings(
        gated_environments=("production",),
        services={"checkout": ("payments-api",)},
        gate_token=TOKEN,
    )
)


def change(key: str, **overrides: object) -> Change:
    values: dict[str, object] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": key,
        "native_id": key,
        "change_type": ChangeType.NORMAL,
        "affected_systems": ("payments-api",),
        "rollback_plan": "Redeploy the previous build.",
        "security": SecurityImpact(level=SecurityLevel.NONE),
        "planned_start": NOW - HOUR,
        "planned_end": NOW + 2 * HOUR,
        "requester": Person(id="u-alice", name="Alice"),
        "approvals": (
            Approval(
                approver=Person(id="u-carol", name="Carol"),
                decision=Decision.APPROVED,
                decided_at=NOW - 2 * HOUR,
            ),
        ),
        "status": Status.APPROVED,
        "created": NOW - 48 * HOUR,
        "updated": NOW - 2 * HOUR,
    }
    values.update(overrides)
    return Change.model_validate(values)


def put(store: Store, item: Change) -> None:
    with store.transaction() as tx:
        tx.upsert_change(
            source=item.source.instance,
            change_key=item.key,
            native_id=item.native_id,
            fingerprint=item.fingerprint(),
            updated=item.updated,
            data=item.to_json(),
        )


def deployment(reference: str, **overrides: object) -> Deployment:
    values: dict[str, object] = {
        "provider": "github",
        "reference": reference,
        "service": "checkout",
        "environment": "production",
        "change_key": "CHG-1",
        "triggered_by": "bob",
        "at": NOW,
    }
    values.update(overrides)
    return Deployment.model_validate(values)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def answer(self, wait: WaitRow, decision: GateDecision) -> None:
        if self.fail:
            raise PermanentError("the provider refused the answer")
        self.sent.append((wait.reference, decision.verdict.value))


def test_a_held_deploy_is_answered_once_when_its_change_is_approved(store: Store) -> None:
    put(store, change("CHG-1", approvals=(), status=Status.AWAITING_APPROVAL))
    held = deployment("acme/shop#42:production")
    assert gates.evaluate(store=store, settings=SETTINGS, deployment=held, now=NOW).verdict is (
        Verdict.WAIT
    )
    extra = {"callback": "https://example.invalid/cb"}
    assert gates.remember_wait(store=store, deployment=held, extra=extra, now=NOW)
    assert not gates.remember_wait(store=store, deployment=held, extra=extra, now=NOW)
    recorder = Recorder()
    answerers = {"github": recorder}
    assert gates.recheck_waits(store=store, settings=SETTINGS, now=NOW, answerers=answerers) == []
    put(store, change("CHG-1"))
    failing = {"github": Recorder(fail=True)}
    assert gates.recheck_waits(store=store, settings=SETTINGS, now=NOW, answerers=failing) == []
    assert store.gate_wait("github", "acme/shop#42:production").state == "waiting"  # type: ignore[union-attr]
    answered = gates.recheck_waits(store=store, settings=SETTINGS, now=NOW, answerers=answerers)
    assert [a.decision.verdict for a in answered] == [Verdict.ALLOW]
    assert answered[0].wait.extra == extra
    assert gates.recheck_waits(store=store, settings=SETTINGS, now=NOW, answerers=answerers) == []
    assert recorder.sent == [("acme/shop#42:production", "allow")]
    row = store.gate_wait("github", "acme/shop#42:production")
    assert row is not None and row.state == "answered" and row.verdict == "allow"
    links = [r for r in store.audit_for("acme-jira", "CHG-1") if r.event == "gate.answered"]
    assert [(r.detail["verdict"], r.detail["reference"]) for r in links] == [
        ("allow", "acme/shop#42:production")
    ]


def test_a_claimed_answer_is_taken_over_only_after_its_lease(store: Store) -> None:
    held = deployment("acme/shop#43:production")
    gates.remember_wait(store=store, deployment=held, now=NOW)
    until = NOW + timedelta(minutes=2)
    assert store.claim_wait("github", held.reference, by="w1", until=until, now=NOW)
    assert not store.claim_wait("github", held.reference, by="w2", until=until, now=NOW)
    assert store.pending_waits(now=NOW) == []
    later = until + timedelta(seconds=1)
    assert [w.reference for w in store.pending_waits(now=later)] == [held.reference]
    assert store.claim_wait("github", held.reference, by="w2", until=later + HOUR, now=later)


def test_a_deployment_heard_of_twice_is_one_row_with_its_outcome(store: Store) -> None:
    put(store, change("CHG-1"))
    first = deployment("acme/shop#44:production")
    row, new = gates.record_deployment(
        store=store, settings=SETTINGS, deployment=first, outcome="in_progress"
    )
    assert new and not row.unauthorized and row.change_key == "CHG-1"
    _, new = gates.record_deployment(
        store=store, settings=SETTINGS, deployment=first, outcome="in_progress"
    )
    assert not new
    done, new = gates.record_deployment(
        store=store,
        settings=SETTINGS,
        deployment=first,
        outcome="success",
        finished_at=NOW + HOUR,
    )
    assert not new and done.outcome == "success"
    assert [r.outcome for r in store.deployments()] == ["success"]
    events = [r.event for r in store.audit_for("acme-jira", "CHG-1")]
    assert events == ["deployment.recorded", "deployment.updated"]


def test_one_deployment_reported_by_many_at_once_is_one_row(
    store: Store, open_store: Callable[[], Store]
) -> None:
    # A webhook and a poll (or two workers) report one deployment at the same moment.
    put(store, change("CHG-1"))
    same = deployment("acme/shop#45:production")
    stores = [open_store() for _ in range(6)]
    start = threading.Barrier(len(stores))

    def report(other: Store) -> bool:
        start.wait()
        _, new = gates.record_deployment(
            store=other, settings=SETTINGS, deployment=same, outcome="in_progress"
        )
        return new

    with ThreadPoolExecutor(len(stores)) as pool:
        news = list(pool.map(report, stores))
    assert news.count(True) == 1
    assert [r.reference for r in store.deployments()] == [same.reference]
    events = [r.event for r in store.audit_for("acme-jira", "CHG-1")]
    assert events == ["deployment.recorded"]


@pytest.fixture
def served(store: Store) -> Iterator[Running]:
    running = serve_app(build_app(SETTINGS, store, Metrics()))
    yield running
    stop(running)


def test_the_gate_api_needs_the_token_and_a_good_body(served: Running, store: Store) -> None:
    body = {"change": "CHG-1", "env": "production", "service": "checkout"}
    url = f"{served.url}/gates"
    assert requests.post(url, json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert requests.post(url, json=body, headers=wrong, timeout=30).status_code == 401
    for bad, message in (
        (b"[1]", "the body must be a JSON object"),
        (b"{", "the body is not JSON"),
        (json.dumps({"env": "production"}).encode(), "service: required (a non-empty string)"),
        (json.dumps({**body, "env": 3}).encode(), "env: must be a string"),
    ):
        answer = requests.post(url, data=bad, headers=AUTH, timeout=30)
        assert (answer.status_code, answer.json()) == (400, {"error": message})
    answer = requests.post(url, json=body, params={"wait": "x"}, headers=AUTH, timeout=30)
    assert answer.status_code == 400
    big = b" " * (SETTINGS.server.max_body_bytes + 1)
    assert requests.post(url, data=big, headers=AUTH, timeout=30).status_code == 413
    deep = b"[" * 50_000 + b"]" * 50_000
    answer = requests.post(url, data=deep, headers=AUTH, timeout=30)
    assert (answer.status_code, answer.json()) == (400, {"error": "the body is not JSON"})
    denied = requests.post(url, json=body, headers=AUTH, timeout=30).json()
    assert denied == {
        "verdict": "deny",
        "reasons": [
            "Change CHG-1 was not found (for service 'checkout' in environment 'production')."
        ],
        "change": None,
        "source": None,
    }
    off = Settings(deploy=DeploySettings(gated_environments=("production",)))
    running = serve_app(build_app(off, store, Metrics()))
    try:
        assert (
            requests.post(f"{running.url}/gates", json=body, headers=AUTH, timeout=30).status_code
            == 403
        )
    finally:
        stop(running)


def test_an_unauthorized_deployment_is_an_exception_in_the_report(
    served: Running, store: Store
) -> None:
    put(store, change("CHG-1", planned_start=NOW - 5 * HOUR, planned_end=NOW - 4 * HOUR))
    url = f"{served.url}/deployments"
    started = (NOW - HOUR).isoformat()
    body = {
        "env": "production",
        "service": "search",
        "commit": "abc1234def",
        "outcome": "success",
        "started_at": started,
        "reference": "jenkins-77",
    }
    answer = requests.post(url, json=body, headers=AUTH, timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.json()["unauthorized"] is True and answer.json()["change"] is None
    assert requests.post(url, json=body, headers=AUTH, timeout=30).status_code == 200  # same one
    late = {
        "env": "production",
        "service": "checkout",
        "change": "CHG-1",
        "outcome": "failure",
        "started_at": started,
    }
    answer = requests.post(url, json=late, headers=AUTH, timeout=30)
    assert answer.status_code == 201 and answer.json()["unauthorized"] is True
    assert "closed at" in answer.json()["reasons"][0]
    staging = {"env": "staging", "service": "search", "outcome": "success", "started_at": started}
    assert (
        requests.post(url, json=staging, headers=AUTH, timeout=30).json()["unauthorized"] is False
    )
    _, summary = build_report(
        SETTINGS, store, since=NOW - 24 * HOUR, until=NOW + HOUR, clock=lambda: NOW
    )
    assert summary.exceptions["unauthorized deployment"] == [
        "deploy:api:jenkins-77",
        "acme-jira:CHG-1",
    ]
    assert [d.environment for d in summary.deployments] == ["production", "production", "staging"]
    md = render("md", [], summary)
    assert "## Deployments" in md and "unauthorized deployment: 2" in md
    assert "No approved change for service 'search'" in md
    html = render("html", [], summary)
    assert "<h2>Deployments</h2>" in html and "deploy:api:jenkins-77" in html
    csv = render("csv", [], summary)
    assert "# ## Deployments" in csv
    data = json.loads(render("json", [], summary))
    assert data["summary"]["exceptions"]["unauthorized deployment"] == [
        "deploy:api:jenkins-77",
        "acme-jira:CHG-1",
    ]
    assert data["summary"]["deployments"][0]["reference"] == "jenkins-77"


def test_the_server_reuses_an_answer_only_until_a_change_is_stored(store: Store) -> None:
    body = {"change": "CHG-7", "env": "production", "service": "checkout"}

    def ask(running: Running) -> str:
        answer = requests.post(f"{running.url}/gates", json=body, headers=AUTH, timeout=30)
        verdict: str = answer.json()["verdict"]
        return verdict

    deploy = SETTINGS.deploy
    held = SETTINGS.model_copy(
        update={"deploy": deploy.model_copy(update={"answer_cache_seconds": 60.0})}
    )
    fresh = SETTINGS.model_copy(
        update={"deploy": deploy.model_copy(update={"answer_cache_seconds": 0.0})}
    )
    cached, uncached = (serve_app(build_app(s, store, Metrics())) for s in (held, fresh))
    try:
        assert ask(cached) == ask(uncached) == "deny"  # no such change yet
        put(store, change("CHG-7"))
        assert ask(uncached) == "allow"
        # The same question within the minute, after a change was stored: decided again.
        assert ask(cached) == "allow"
    finally:
        stop(cached)
        stop(uncached)

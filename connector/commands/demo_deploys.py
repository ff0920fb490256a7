"""The demo's deployment gates: four deploys through the generic gate a pipeline uses.

After the demo has synced the sandbox, this part serves the worker's HTTP app in-process on a
free port and asks it what any pipeline (Jenkins, a script) would, with the gate token:
1. `POST /gates` for a change its approver approved, inside its planned window: allow;
2. `POST /gates?wait=` for a change still awaiting approval: wait; the approver then approves
   it in the sandbox's Jira (its service-desk approval API, as a person does), the worker syncs,
   and the held request is answered allow;
3. the year-end freeze: the change planned inside it, deployed at its planned time, decided by
   `sync.gates.evaluate` (the decision `POST /gates` makes, at that moment): deny, naming it;
4. `POST /deployments` for a service no approved change covers: recorded as an unauthorized
   deployment, which the report lists among its exceptions.
The allowed and the released deploys are reported with `POST /deployments` too, so the report's
Deployments section shows them beside the unauthorized one. The people and the pipeline are the
sandbox's (`connector.sandbox.people`, plain HTTP); the gate, the sync and the evidence are the
worker's own code.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from rich.table import Table

from connector.core.deploy import Deployment, DeploySettings
from connector.core.model import Change, ChangeType, Decision, Status
from connector.core.policy import PolicySettings
from connector.sandbox import SandboxInfo
from connector.sandbox.people import JiraPeople, Pipeline
from connector.serve.worker import Worker
from connector.settings import ServerSettings, Settings
from connector.store import Store
from connector.sync import gates

SOURCE = "sandbox-jira"
ENV = "production"
#: A service no change names: its deploy to production is unauthorized.
ROGUE_SERVICE = "ledger-export"
ROGUE_REFERENCE = "jenkins-ledger-export-7"
COMMIT = "4f2a9c1e"
#: How long the held deploy's gate request waits for its approval at most.
WAIT_SECONDS = 30


class Unavailable(LookupError):
    """The seeded sandbox has no change a deploy case needs (a small --seed): say so, skip."""


@dataclass(frozen=True)
class DeployLine:
    deploy: str
    change: str
    verdict: str
    reason: str


def deploy_settings() -> DeploySettings:
    """Production is gated; the gate token is made up for this run (never a fixed one)."""
    return DeploySettings(
        gated_environments=(ENV,), gate_token=SecretStr(secrets.token_urlsafe(24))
    )


def served(settings: Settings) -> Settings:
    """`settings` for a worker that serves its app on a free local port: each source gets a
    webhook secret of this run (the app refuses unsigned webhook intake)."""
    sources = {
        name: s.model_copy(update={"webhook_secret": SecretStr(secrets.token_urlsafe(24))})
        for name, s in settings.sources.items()
    }
    server = ServerSettings(host="127.0.0.1", port=0)
    return settings.model_copy(update={"sources": sources, "server": server})


def _changes(store: Store) -> list[Change]:
    return [Change.from_json(r.data) for r in store.iter_stored() if r.source == SOURCE]


def waiting_pair(store: Store) -> tuple[Change, Change]:
    """Two minor normal changes awaiting their approvers, complete, without customer notice to
    give, on different systems: one to approve up front, one to hold."""
    found: list[Change] = []
    for row in store.iter_stored():
        change = Change.from_json(row.data)
        if (
            row.source == SOURCE
            and row.findings in (None, "[]")
            and change.status is Status.AWAITING_APPROVAL
            and change.change_type is ChangeType.NORMAL
            and change.effective_class == "minor"
            and not change.customer_facing
            and change.affected_systems
            and change.approvals  # someone is asked: their approval is what arrives
            and all(a.decision is Decision.PENDING for a in change.approvals)
            and all(change.affected_systems[0] != c.affected_systems[0] for c in found)
        ):
            found.append(change)
        if len(found) == 2:
            return found[0], found[1]
    raise Unavailable("the sandbox has no two complete minor changes awaiting approval")


def frozen_change(store: Store, policy: PolicySettings) -> Change:
    """An approved change planned inside one of the policy's freezes."""
    for change in _changes(store):
        start = change.planned_start
        approved = change.status in (Status.APPROVED, Status.SCHEDULED)
        if approved and start is not None and any(f.start <= start < f.end for f in policy.freezes):
            return change
    raise Unavailable("the sandbox has no approved change planned inside a freeze")


def run_deploys(*, info: SandboxInfo, store: Store, worker: Worker) -> list[DeployLine]:
    """The four deploys; the held change is approved in the sandbox while its gate waits."""
    settings = worker.settings
    token = settings.deploy.gate_token
    assert token is not None
    people = JiraPeople(info)
    allowed, held = waiting_pair(store)
    frozen_change(store, settings.policy)  # before any ticket moves: all four cases or none
    now = datetime.now(UTC).replace(microsecond=0)
    for change in (allowed, held):
        people.plan(change.key, now - timedelta(hours=1), now + timedelta(hours=6))
    people.approve(allowed.key)
    worker.sync_once()
    lines = []
    with worker.serving() as url:
        pipeline = Pipeline(url, token.get_secret_value(), env=ENV, commit=COMMIT)
        service = allowed.affected_systems[0]
        lines.append(_line(allowed, "approved, in its window", pipeline.gate(allowed.key, service)))
        pipeline.deployed(service, reference="demo-allowed", change=allowed.key)
        service = held.affected_systems[0]
        first = pipeline.gate(held.key, service)
        released: dict[str, Any] = {}
        poll = threading.Thread(
            target=lambda: released.update(pipeline.gate(held.key, service, wait=WAIT_SECONDS))
        )
        poll.start()  # the pipeline's request is held while the approval arrives
        people.approve(held.key)
        worker.sync_once()
        poll.join(timeout=WAIT_SECONDS + 30)
        lines.append(_held(held, first, released))
        pipeline.deployed(service, reference="demo-held", change=held.key)
        lines.append(_frozen(store, settings))
        rogue = pipeline.deployed(ROGUE_SERVICE, reference=ROGUE_REFERENCE, change=None)
        verdict = "unauthorized" if rogue["unauthorized"] else rogue["verdict"]
        deploy = f"{ROGUE_SERVICE} to {ENV}, reported by POST /deployments"
        lines.append(DeployLine(deploy, "-", verdict, " ".join(rogue["reasons"])))
    return lines


def _line(change: Change, what: str, answer: dict[str, Any]) -> DeployLine:
    deploy = f"{change.affected_systems[0]} to {ENV} ({what})"
    return DeployLine(deploy, change.key, answer["verdict"], " ".join(answer["reasons"]))


def _held(change: Change, first: dict[str, Any], released: dict[str, Any]) -> DeployLine:
    line = _line(change, "held until approved", released)
    reason = f"First: {' '.join(first['reasons'])} Then: {line.reason}"
    return DeployLine(line.deploy, line.change, f"{first['verdict']}, then {line.verdict}", reason)


def _frozen(store: Store, settings: Settings) -> DeployLine:
    change = frozen_change(store, settings.policy)
    assert change.planned_start is not None
    at = (change.planned_start + timedelta(minutes=30)).astimezone(UTC)
    deployment = Deployment(
        provider="api",
        reference="demo-frozen",
        service=change.affected_systems[0],
        environment=ENV,
        change_key=change.key,
        triggered_by="deploy-bot",
        at=at,
    )
    decision = gates.evaluate(store=store, settings=settings, deployment=deployment, now=at)
    what = f"at its planned time, {at:%Y-%m-%d %H:%M} UTC"
    return DeployLine(
        f"{deployment.service} to {ENV} ({what})",
        change.key,
        decision.verdict.value,
        " ".join(decision.reasons),
    )


def deploy_table(lines: list[DeployLine]) -> Table:
    table = Table(title="Deployment gates: four deploys through the generic gate API")
    for column in ("deploy", "change", "verdict", "reason"):
        table.add_column(column)
    for line in lines:
        table.add_row(*asdict(line).values())
    return table

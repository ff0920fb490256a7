"""Deployment gates in the store: deployment evidence (`deployments`) and held deploys
(`gate_waits`); see schema.py for the columns.

A deployment is keyed by (provider, reference), the provider's own id of it: heard of again (a
status update, a redelivered event, a pipeline reporting twice) it is the same row, its outcome
and finish time updated, checked before written. Recording one appends its audit link in the
same transaction, so evidence and audit trail never disagree.

A held deploy (verdict "wait") is remembered once under the same key and answered exactly once:
an answer first claims the row (`waiting` -> `answering`, with a lease, in one conditional
UPDATE that only one worker can win), then marks it `answered`; a worker killed in between
leaves a lease that expires, so another worker takes the answer over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from connector.store import audit as audit_log
from connector.store.base import StoreBase
from connector.store.engine import begin_write
from connector.store.schema import (
    deployments,
    gate_waits,
)

OUTCOMES = ("success", "failure", "in_progress")


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    """One deployment the worker heard of, with what the gate said about it."""

    provider: str
    reference: str
    service: str
    environment: str
    commit: str
    change_source: str | None
    change_key: str | None
    triggered_by: str
    url: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    verdict: str
    reasons: tuple[str, ...]
    unauthorized: bool
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WaitRow:
    """A held deploy: the deployment (JSON of core.deploy.Deployment) and what its answerer
    needs (`extra`, JSON object)."""

    provider: str
    reference: str
    deployment: str
    extra: dict[str, Any]
    created_at: datetime
    state: str
    verdict: str | None
    reasons: tuple[str, ...]
    answered_at: datetime | None


def _deployment(row: Any) -> DeploymentRow:
    return DeploymentRow(
        provider=row.provider,
        reference=row.reference,
        service=row.service,
        environment=row.environment,
        commit=row.commit_sha,
        change_source=row.change_source,
        change_key=row.change_key,
        triggered_by=row.triggered_by,
        url=row.url,
        outcome=row.outcome,
        started_at=row.started_at,
        finished_at=row.finished_at,
        verdict=row.verdict,
        reasons=tuple(json.loads(row.reasons)),
        unauthorized=bool(row.unauthorized),
        recorded_at=row.recorded_at,
    )


def _wait(row: Any) -> WaitRow:
    return WaitRow(
        provider=row.provider,
        reference=row.reference,
        deployment=row.deployment,
        extra=json.loads(row.extra),
        created_at=row.created_at,
        state=row.state,
        verdict=row.verdict,
        reasons=tuple(json.loads(row.reasons)) if row.reasons else (),
        answered_at=row.answered_at,
    )


def _key(provider: str, reference: str) -> Any:
    return and_(gate_waits.c.provider == provider, gate_waits.c.reference == reference)


class DeploymentsMixin(StoreBase):
    # -- evidence ------------------------------------------------------------------------------

    def record_deployment(
        self, row: DeploymentRow, *, actor: str, detail: dict[str, Any]
    ) -> tuple[DeploymentRow, bool]:
        """Store a deployment (new: True) or update the outcome / finish time of the one with
        the same (provider, reference) (False; unchanged rows are not written). Either write
        appends an audit link `deployment.recorded` / `deployment.updated` with `detail`."""
        if row.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}: {row.outcome!r}")
        at = self._now()
        key = and_(deployments.c.provider == row.provider, deployments.c.reference == row.reference)
        with self._write() as conn:
            self._hold(conn, row.provider, row.reference)
            found = conn.execute(select(deployments).where(key)).first()
            if found is not None:
                old = _deployment(found)
                if (old.outcome, old.finished_at) == (row.outcome, row.finished_at):
                    return old, False
                values = {"outcome": row.outcome, "finished_at": row.finished_at}
                conn.execute(update(deployments).where(key).values(**values))
                event, new = "deployment.updated", False
                stored = DeploymentRow(**{**_fields(old), **values})
            else:
                conn.execute(insert(deployments).values(**_columns(row), recorded_at=at))
                event, new, stored = "deployment.recorded", True, row
            audit_log.append(
                conn,
                namespace=self._namespace,
                at=at,
                source=row.change_source or f"deploy:{row.provider}",
                ticket_key=row.change_key,
                event=event,
                actor=actor,
                detail=detail,
                keying=self._audit_keying,
            )
        return stored, new

    def deployment(self, provider: str, reference: str) -> DeploymentRow | None:
        key = and_(deployments.c.provider == provider, deployments.c.reference == reference)
        with self._read() as conn:
            row = conn.execute(select(deployments).where(key)).first()
        return None if row is None else _deployment(row)

    def deployments(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        source: str | None = None,
    ) -> list[DeploymentRow]:
        """Deployments started in [since, until), oldest first; with `source`, those of its
        changes and those without a change."""
        query = select(deployments)
        if since is not None:
            query = query.where(deployments.c.started_at >= self._now(since))
        if until is not None:
            query = query.where(deployments.c.started_at < self._now(until))
        if source is not None:
            query = query.where(
                or_(deployments.c.change_source == source, deployments.c.change_source.is_(None))
            )
        query = query.order_by(deployments.c.started_at, deployments.c.id)
        return [_deployment(row) for row in self._stream(query)]

    # -- held deploys --------------------------------------------------------------------------

    def _hold(self, conn: Connection, provider: str, reference: str) -> None:
        """Serialize the check-then-write of one deploy: a provider's webhook and the worker's
        poll may report it at the same moment. On PostgreSQL a lock of its own for the rest of
        the transaction; SQLite's write transactions are serialized already."""
        begin_write(conn, namespace=self._namespace, lock=f"deploy\0{provider}\0{reference}")

    def remember_wait(
        self,
        *,
        provider: str,
        reference: str,
        deployment: str,
        extra: dict[str, Any],
        now: datetime | None = None,
    ) -> bool:
        """Remember a held deploy once (True: new; False: already remembered, left as it is)."""
        with self._write() as conn:
            self._hold(conn, provider, reference)
            found = conn.execute(
                select(gate_waits.c.state).where(_key(provider, reference))
            ).first()
            if found is not None:
                return False
            conn.execute(
                insert(gate_waits).values(
                    provider=provider,
                    reference=reference,
                    deployment=deployment,
                    extra=json.dumps(extra, sort_keys=True),
                    created_at=self._now(now),
                    state="waiting",
                )
            )
        return True

    def gate_wait(self, provider: str, reference: str) -> WaitRow | None:
        with self._read() as conn:
            row = conn.execute(select(gate_waits).where(_key(provider, reference))).first()
        return None if row is None else _wait(row)

    def pending_waits(self, *, now: datetime | None = None) -> list[WaitRow]:
        """Held deploys still to answer: waiting, or being answered under an expired lease;
        oldest first."""
        at = self._now(now)
        query = (
            select(gate_waits)
            .where(_open(at))
            .order_by(gate_waits.c.created_at, gate_waits.c.provider, gate_waits.c.reference)
        )
        with self._read() as conn:
            return [_wait(row) for row in conn.execute(query)]

    def claim_wait(
        self,
        provider: str,
        reference: str,
        *,
        by: str,
        until: datetime,
        now: datetime | None = None,
    ) -> bool:
        """Take the answer of a held deploy (True: this caller answers it, nobody else can
        until `until`)."""
        at = self._now(now)
        with self._write() as conn:
            result = conn.execute(
                update(gate_waits)
                .where(_key(provider, reference), _open(at))
                .values(state="answering", claimed_by=by, claimed_until=self._now(until))
            )
        return result.rowcount == 1

    def release_wait(self, provider: str, reference: str) -> None:
        """Give a claimed answer back (the answer could not be sent: try again later)."""
        with self._write() as conn:
            conn.execute(
                update(gate_waits)
                .where(_key(provider, reference), gate_waits.c.state == "answering")
                .values(state="waiting", claimed_by=None, claimed_until=None)
            )

    def finish_wait(
        self,
        provider: str,
        reference: str,
        *,
        verdict: str,
        reasons: Sequence[str],
        change: tuple[str, str] | None = None,
        actor: str = "worker",
        now: datetime | None = None,
    ) -> None:
        """Mark a held deploy answered with the verdict sent, and append the audit link
        `gate.answered` (on `change`, (source, key), when the deploy has one)."""
        at = self._now(now)
        with self._write() as conn:
            conn.execute(
                update(gate_waits)
                .where(_key(provider, reference))
                .values(
                    state="answered",
                    verdict=verdict,
                    reasons=json.dumps(list(reasons)),
                    answered_at=at,
                    claimed_until=None,
                )
            )
            audit_log.append(
                conn,
                namespace=self._namespace,
                at=at,
                source=change[0] if change else f"deploy:{provider}",
                ticket_key=change[1] if change else None,
                event="gate.answered",
                actor=actor,
                detail={
                    "provider": provider,
                    "reference": reference,
                    "verdict": verdict,
                    "reasons": list(reasons),
                },
                keying=self._audit_keying,
            )


def _open(at: datetime) -> Any:
    return or_(
        gate_waits.c.state == "waiting",
        and_(gate_waits.c.state == "answering", gate_waits.c.claimed_until < at),
    )


def _columns(row: DeploymentRow) -> dict[str, Any]:
    values = _fields(row)
    values["commit_sha"] = values.pop("commit")
    values["reasons"] = json.dumps(list(row.reasons))
    values.pop("recorded_at")
    return values


def _fields(row: DeploymentRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in DeploymentRow.__dataclass_fields__}

"""What the running worker says it does: its start-up line, a log line per drained batch, per
poll and per write, and the Prometheus counters of the same events.

One `Telemetry` belongs to one `Worker`; the webhook server's /metrics renders the same
`Metrics`, so the poller's and the drain's counters are the ones scraped (they once lived in a
registry nothing incremented). Log lines name sources, ticket keys, action purposes and
outcomes only: never a ticket's content, never a secret (the store URL is shown masked).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from connector.core.planner import Action
from connector.core.skips import reason_of
from connector.serve.metrics import Metrics

if TYPE_CHECKING:
    from connector.sync.drain import DrainStats
    from connector.sync.poller import PollStats
    from connector.sync.runtime import SourceRuntime

OUTCOMES = ("changed", "unchanged")


@dataclass
class Telemetry:
    metrics: Metrics = field(default_factory=Metrics)
    # Outcomes of the writes since the worker started; a batch's line reads its difference.
    writes: Counter[str] = field(default_factory=Counter)

    def prime(self, sources: Mapping[str, object]) -> None:
        """Every source's ticket series at 0, so a scrape shows them before the first sync."""
        for name in sources:
            for path in ("poll", "webhook"):
                for outcome in OUTCOMES:
                    self.metrics.tickets.labels(source=name, path=path, outcome=outcome)

    def write(self, action: Action, outcome: str) -> None:
        """One action tried on a ticket (Executor.observe)."""
        kind = action.kind.value
        self.metrics.actions.labels(source=action.source, kind=kind, result=outcome).inc()
        self.writes[outcome] += 1
        # a move names its worker actions (the mapping's names), never any ticket text
        what = ",".join(action.steps) if action.steps else action.purpose
        # "held": another worker has it, nothing was done here
        level = "DEBUG" if outcome == "held" else "INFO"
        logger.log(
            level, "write {} {}: {} {} -> {}", action.source, action.ticket_key, kind, what, outcome
        )

    def polled(self, stats: PollStats, *, seconds: float) -> None:
        m = self.metrics
        m.poll_seconds.labels(source=stats.source).observe(seconds)
        if not stats.polled:
            m.polls.labels(source=stats.source, result="busy").inc()
            logger.info("poll {}: another worker is polling it", stats.source)
            return
        m.polls.labels(source=stats.source, result="failed" if stats.failed else "ok").inc()
        unchanged = stats.seen - stats.changed - len(stats.skipped)
        self._synced(stats.source, "poll", changed=stats.changed, unchanged=unchanged)
        for message in stats.skipped:
            m.skips.labels(source=stats.source, path="poll", reason=reason_of(message)).inc()
        logger.info(
            "poll {}: {} seen, {} changed, {} skipped, {} written{} in {:.2f}s",
            stats.source,
            stats.seen,
            stats.changed,
            len(stats.skipped),
            stats.written,
            ", stopped: writes failed (left pending)" if stats.failed else "",
            seconds,
        )

    def poll_failed(self, source: str, *, seconds: float) -> None:
        self.metrics.poll_seconds.labels(source=source).observe(seconds)
        self.metrics.polls.labels(source=source, result="failed").inc()

    def drained(self, stats: DrainStats, *, seconds: float, writes_before: Counter[str]) -> None:
        """One drain batch; nothing is logged when it claimed nothing (every few seconds)."""
        m = self.metrics
        for (source, outcome), n in stats.synced.items():
            m.tickets.labels(source=source, path="webhook", outcome=outcome).inc(n)
        for (source, reason), n in stats.skips.items():
            m.skips.labels(source=source, path="webhook", reason=reason).inc(n)
        if not stats.claimed:
            return
        m.drain_seconds.observe(seconds)
        m.deliveries.labels(result="failed").inc(stats.failed)
        m.deliveries.labels(result="done").inc(stats.claimed - stats.failed)
        writes = self.writes - writes_before
        tried = sum(n for outcome, n in writes.items() if outcome != "held")
        logger.info(
            "drain: {} deliveries, {} tickets ({} changed, {} skipped), {} actions "
            "({} written, {} failed), {} deliveries failed, in {:.2f}s",
            stats.claimed,
            stats.tickets + stats.deleted,
            stats.changed,
            sum(stats.skips.values()),
            tried,
            writes["written"],
            writes["failed"] + writes["error"],
            stats.failed,
            seconds,
        )

    def job_failed(self, what: str) -> None:
        self.metrics.errors.labels(source="worker", kind=what).inc()

    def _synced(self, source: str, path: str, *, changed: int, unchanged: int) -> None:
        tickets = self.metrics.tickets
        tickets.labels(source=source, path=path, outcome="changed").inc(changed)
        tickets.labels(source=source, path=path, outcome="unchanged").inc(max(0, unchanged))


# -- the start-up line ---------------------------------------------------------------------------


def startup_line(
    *, address: str | None, runtimes: Mapping[str, SourceRuntime], store_url: str
) -> str:
    """`change-connector run`'s first line: where it listens, what it syncs, where it stores
    (`store_url` as `Store.url` gives it: passwords masked)."""
    listen = f"listening on {address}" if address else "webhooks not served"
    sources = "; ".join(source_label(name, rt) for name, rt in runtimes.items()) or "none"
    return f"change-connector run: {listen}; sources: {sources}; store: {store_url}"


def source_label(name: str, runtime: SourceRuntime) -> str:
    """One source as the start-up line names it: name, system, deployment and mode (observe
    writes nothing to tickets), and the cut-off before which changes are left alone."""
    system, _, deployment = runtime.adapter.kind.value.partition("-")
    facts = [f"system={system}"]
    if deployment:
        facts.append(f"deployment={deployment}")
    facts.append(f"mode={runtime.gate.mode}")
    if runtime.gate.act_after is not None:
        facts.append(f"act_after={runtime.gate.act_after.isoformat(timespec='seconds')}")
    return f"{name} ({', '.join(facts)})"


def bound_address(host: str, port: int) -> str:
    """host:port as a URL authority (an IPv6 host in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"

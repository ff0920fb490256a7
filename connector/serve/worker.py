"""The worker process: one runtime per source, poll and drain jobs, the webhook server.

`sync_once` is one poll cycle per source (the `sync --once` command and the demo); `run` serves
webhooks and runs `schedule` jobs (poll each source every N minutes, drain the inbox every few
seconds) until SIGTERM / SIGINT, each job inside its own exception boundary so one failing
source never stops the others. Between jobs the loop waits on the store's inbox bell, which
the intake rings once it has committed a delivery (in this process, or on PostgreSQL in any
other): a delivery is drained within moments, and the drain timer is only the safety net.
Jobs still run one at a time, so a drain never overlaps a poll of the same worker.

With `[deploy.github]`, the worker is a GitHub App's deployment protection rule
(sync/github_gate.py): its answerer answers held deploys when `recheck_gates` finds their verdict
changed, and the runs waiting in the configured repositories are reconciled at start and every
poll interval (GitHub does not redeliver a missed webhook).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

import schedule
from loguru import logger

from connector.core.errors import ConfigError, ConnectorError
from connector.serve.telemetry import Telemetry, startup_line
from connector.settings import Settings
from connector.store import Store
from connector.store.anchors import write_anchor
from connector.store.audit import Anchor
from connector.sync.deployed import move_deployed
from connector.sync.drain import DrainStats, drain
from connector.sync.gates import Answered, Answerer, recheck_waits
from connector.sync.page import PageResult
from connector.sync.poller import PollStats, poll
from connector.sync.runtime import SourceRuntime, open_runtime
from connector.systems.chat import ChatClient

# The HTTP server's and the deployment providers' modules (uvicorn, starlette, python-gitlab)
# are imported where they are used: a `sync --once` never serves and seldom has a gate, and
# importing them was ~90 ms of its start.
if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

    from connector.sync.github_gate import GitHubGate
    from connector.sync.gitlab_gate import GitLabGate

#: How long a stopping worker waits for its HTTP server's thread (uvicorn's own graceful
#: shutdown waits for the requests in flight).
SERVER_STOP_SECONDS = 15
#: How often held deploys are decided again by the clock alone (a window opens).
GATE_RECHECK_SECONDS = 5
#: Deployments this recent move their changes on (an older one's change has moved or never will).
DEPLOYED_LOOKBACK = timedelta(days=1)
#: Full batches one wake-up drains before the loop looks at its other jobs.
WOKEN_BATCHES = 10


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Worker:
    settings: Settings
    store: Store
    name: str = field(default_factory=worker_id)
    runtimes: dict[str, SourceRuntime] = field(default_factory=dict)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # the counters the jobs move and the /metrics endpoint renders: one set per worker
    telemetry: Telemetry = field(default_factory=Telemetry)
    _anchored: tuple[int, str] | None = field(default=None, init=False, repr=False)
    chat: ChatClient | None = field(default=None, init=False, repr=False)
    # Deployment gates: who answers a held deploy, per provider ("github", "gitlab").
    answerers: dict[str, Answerer] = field(default_factory=dict)
    # `[deploy.gitlab]`: blocked deployments approved or rejected (sync/gitlab_gate.py)
    gitlab: GitLabGate | None = field(default=None, init=False, repr=False)
    github: GitHubGate | None = field(default=None, init=False, repr=False)
    _server_thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def open(self, only: str | None = None) -> Worker:
        if only is not None and only not in self.settings.sources:
            known = ", ".join(sorted(self.settings.sources)) or "none configured"
            raise ConfigError(f"--source: no source named {only!r} (known: {known})")
        if self.settings.notify and self.chat is None:
            self.chat = ChatClient(self.settings.notify)
        if self.settings.deploy.gitlab is not None and self.gitlab is None:
            from connector.serve.providers import open_gitlab_gate

            self.gitlab = open_gitlab_gate(
                self.settings, self.store, clock=self.clock, worker=self.name
            )
            self.answerers["gitlab"] = self.gitlab.answerer
        if self.settings.deploy.github is not None and self.github is None:
            from connector.serve.providers import open_github_gate

            self.github = open_github_gate(
                self.settings, self.store, clock=self.clock, worker=self.name
            )
            self.answerers["github"] = self.github.answerer
        for name, source in self.settings.sources.items():
            if only in (None, name):
                self.runtimes[name] = open_runtime(
                    name,
                    source,
                    self.store,
                    policy=self.settings.policy,
                    clock=self.clock,
                    release_notes=self.settings.release_notes,
                    notify=self.settings.notify,
                    chat=self.chat,
                )
        return self

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()
        if self.chat is not None:
            self.chat.close()
        if self.gitlab is not None:
            self.gitlab.client.close()
        if self.github is not None:
            self.github.app.close()

    def final_anchor(self) -> None:
        """`anchor` when a run ends; never hides the error that ended it."""
        try:
            self.anchor()
        except Exception as exc:
            logger.error("audit anchor not written: {}", getattr(exc, "message", None) or exc)

    def anchor(self) -> None:
        """Append the audit chain's head to `audit.anchor_file` if it moved since the last."""
        path = self.settings.audit.anchor_file
        if path is None:
            return
        head = self.store.audit_head()
        if head is None or self._anchored == (head.seq, head.hash):
            return
        write_anchor(path, head, keyed=self.settings.audit.hmac_key is not None, by=self.name)
        self._anchored = (head.seq, head.hash)
        # Deleting links behind a running worker's back is refused at its next append.
        self.store.raise_audit_floor(Anchor(head.seq, head.hash, origin=path.name))

    def sync_once(
        self,
        *,
        dry_run: bool = False,
        on_page: Callable[[str, PageResult], None] = lambda source, page: None,
    ) -> list[PollStats]:
        """One poll cycle per source, in order; then the held deploys are decided again."""
        stats = [self.poll_source(name, dry_run=dry_run, on_page=on_page) for name in self.runtimes]
        if not dry_run and any(s.changed for s in stats):
            self.recheck_gates()  # an approval may have arrived
        return stats

    def poll_source(
        self,
        name: str,
        *,
        dry_run: bool = False,
        on_page: Callable[[str, PageResult], None] = lambda source, page: None,
    ) -> PollStats:
        """One poll cycle of one source, recorded in the runs table (unless a dry run)."""
        runtime = self.runtimes[name]
        pipeline = runtime.pipeline(dry_run=dry_run)
        lease = self.settings.worker.lease_seconds
        executor = None if dry_run else runtime.executor(worker=self.name, lease_seconds=lease)
        run_id = (
            None if dry_run else self.store.run_start(kind="poll", source=name, worker=self.name)
        )
        try:
            stats = poll(
                runtime,
                pipeline=pipeline,
                executor=executor,
                on_page=lambda page: on_page(name, page),
            )
        except ConnectorError as exc:
            if run_id is not None:
                self.store.run_finish(
                    run_id,
                    status="failed",
                    tickets_seen=0,
                    tickets_changed=0,
                    actions_applied=0,
                    error=exc.message,
                )
            raise
        if run_id is not None:
            error = stats.failed or next(iter(stats.write_failures), None)
            self.store.run_finish(
                run_id,
                status="failed" if error else "ok",
                tickets_seen=stats.seen,
                tickets_changed=stats.changed,
                actions_applied=stats.written,
                error=error,
            )
        return stats

    def drain_once(self) -> DrainStats:
        lease = self.settings.worker.lease_seconds
        started, writes = time.monotonic(), self.telemetry.writes.copy()
        stats = drain(
            self.runtimes,
            worker=self.name,
            batch=self.settings.worker.drain_batch,
            lease_seconds=lease,
            clock=self.clock,
        )
        seconds = time.monotonic() - started
        self.telemetry.drained(stats, seconds=seconds, writes_before=writes)
        if stats.changed:  # an approval may have arrived: held deploys are answered now
            self.recheck_gates()
        return stats

    def recheck_gates(self) -> list[Answered]:
        """Decide every held deploy again; answer those whose verdict is no longer "wait"
        (after each poll and drain: an approval arrived; on a timer: a window opened)."""
        if not self.answerers:
            return []
        return recheck_waits(
            store=self.store,
            settings=self.settings,
            now=self.clock(),
            answerers=self.answerers,
            worker=self.name,
        )

    def deploy_gates(self) -> None:
        """Held deploys decided again (a window may have opened), missed deliveries found."""
        self.recheck_gates()
        if self.github is not None:
            self.github.reconcile()

    def move_deployed(self) -> list[tuple[str, str]]:
        """Move on the changes of successful authorized deploys (the mapping's `deployed`)."""
        since = self.clock() - DEPLOYED_LOOKBACK
        return move_deployed(
            store=self.store,
            settings=self.settings,
            runtimes=self.runtimes,
            worker=self.name,
            since=since,
        )

    def gitlab_once(self) -> int:
        """One GitLab cycle: settle the blocked deployments webhooks missed, recheck the held."""
        return self.gitlab.poll() if self.gitlab is not None else 0

    def instrument(self) -> None:
        """Count and log every write of the open sources (the running service does)."""
        self.telemetry.prime(self.runtimes)
        for runtime in self.runtimes.values():
            runtime.observe = self.telemetry.write

    def purge_once(self) -> int:
        """Delete inbox rows processed longer ago than the retention; how many went."""
        retention = timedelta(hours=self.settings.worker.inbox_retention_hours)
        purged = self.store.inbox_purge(older_than=self.clock() - retention)
        if purged:
            logger.info("inbox: {} processed deliveries purged", purged)
        return purged

    def run(self, *, serve: bool = True) -> None:
        """Serve webhooks and run the jobs until SIGTERM or SIGINT."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            logger.info("signal {}: finishing the current job, then stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.instrument()
        server = self._serve() if serve else None
        address = None
        if server is not None:
            from connector.serve.http_server import listening_at

            address = listening_at(server)
        logger.info(startup_line(address=address, runtimes=self.runtimes, store_url=self.store.url))
        jobs = schedule.Scheduler()
        for name, runtime in self.runtimes.items():
            jobs.every(max(1, round(runtime.settings.poll_interval_minutes * 60))).seconds.do(
                self._guarded, f"poll {name}", lambda n=name: self._poll_one(n)
            )
        jobs.every(max(1, round(self.settings.worker.drain_interval_seconds))).seconds.do(
            self._guarded, "drain", self.drain_once
        )
        if any(rt.mapping.action("deployed") for rt in self.runtimes.values()):
            jobs.every(GATE_RECHECK_SECONDS).seconds.do(
                self._guarded, "deployed changes", self.move_deployed
            )
        if self.answerers:  # after the polls and drains scheduled before it, and every 5 s
            jobs.every(GATE_RECHECK_SECONDS).seconds.do(
                self._guarded, "gate waits", self.recheck_gates
            )
        if self.github is not None:
            # GitHub is asked for waiting runs as often as the sources are polled (rate limits)
            minutes = min(
                (r.settings.poll_interval_minutes for r in self.runtimes.values()), default=5.0
            )
            jobs.every(max(1, round(minutes * 60))).seconds.do(
                self._guarded, "github reconcile", self.github.reconcile
            )
        jobs.every(max(1, round(self.settings.worker.purge_interval_seconds))).seconds.do(
            self._guarded, "inbox purge", self.purge_once
        )
        if self.settings.deploy.gitlab is not None:
            every = max(1, round(self.settings.deploy.gitlab.poll_interval_seconds))
            jobs.every(every).seconds.do(self._guarded, "gitlab deployments", self.gitlab_once)
        if self.settings.audit.anchor_file is not None:
            every = max(1, round(self.settings.audit.anchor_interval_seconds))
            jobs.every(every).seconds.do(self._guarded, "audit anchor", self.anchor)
        self.store.inbox_listen()
        jobs.run_all()
        while not stop.is_set():
            jobs.run_pending()
            if self.store.inbox_wait(min(1.0, max(0.05, jobs.idle_seconds or 1.0))):
                self._guarded("drain", lambda: self._drain_woken(stop))
        if server is not None:
            self._stop_serving(server)
        self.final_anchor()

    def _drain_woken(self, stop: threading.Event) -> None:
        """Drain what a wake-up announced: batch after batch while they come back full, up to
        `WOKEN_BATCHES` (then the other jobs get their turn; the bell is rung again)."""
        for _ in range(WOKEN_BATCHES):
            if stop.is_set() or self.drain_once().claimed < self.settings.worker.drain_batch:
                return
        self.store.inbox_wake()

    def _poll_one(self, name: str) -> None:
        started = time.monotonic()
        try:
            stats = self.poll_source(name)
        except Exception:
            self.telemetry.poll_failed(name, seconds=time.monotonic() - started)
            raise
        self.telemetry.polled(stats, seconds=time.monotonic() - started)
        if stats.changed:
            self.recheck_gates()

    def _guarded(self, what: str, job: Callable[[], object]) -> None:
        """One exception boundary per job: log it, keep the schedule running."""
        try:
            job()
        except ConnectorError as exc:
            self.telemetry.job_failed(what)
            logger.warning("{} failed: {}", what, exc.message)
        except Exception as exc:  # a bug must not stop the other jobs
            self.telemetry.job_failed(what)
            logger.exception("{} failed unexpectedly: {}", what, type(exc).__name__)

    @contextmanager
    def serving(self) -> Iterator[str]:
        """The HTTP app `run` serves (webhooks, gates, deployments, reports), in a thread, for
        as long as the block runs; yields its base URL (port 0 in the config: a free one)."""
        from connector.serve.http_server import listening_at

        server = self._serve()
        try:
            address = listening_at(server)
            assert address is not None  # a started server has bound its socket
            yield address
        finally:
            self._stop_serving(server)

    def _stop_serving(self, server: uvicorn.Server) -> None:
        """Stop the server and wait for its thread (its requests answered, its connections
        closed) before the store closes: a server thread still running when the interpreter
        ends can crash it (a `run` ended by SIGTERM with a segmentation fault, now and then)."""
        server.should_exit = True
        if self._server_thread is not None:
            self._server_thread.join(timeout=SERVER_STOP_SECONDS)

    def _serve(self) -> uvicorn.Server:
        from connector.serve.http_server import start_server
        from connector.serve.webhooks import build_app

        if self.chat is not None:
            self.chat.observe = self.telemetry.metrics.notification
        app = build_app(self.settings, self.store, self.telemetry.metrics, hooks=self._hooks())
        server, self._server_thread = start_server(app, self.settings)
        return server

    def _hooks(self) -> dict[str, ASGIApp]:
        """The deployment providers' webhook handlers this worker serves."""
        from connector.serve.providers import provider_hooks

        return provider_hooks(self.settings, gitlab=self.gitlab, github=self.github)

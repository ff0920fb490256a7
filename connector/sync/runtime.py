"""Wiring of one configured source: settings + mapping + policy + adapter + writer + store.

The imperative shell builds a `SourceRuntime` per source at start; the pure core never sees
any of it. The writer (connector/systems/writers.py) adapts each system's marker-carrying,
check-before-write calls to the executor's protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connector.core.communications import ReleaseNotesSettings
from connector.core.errors import ConfigError
from connector.core.gate import OBSERVE_REASON, Gate
from connector.core.mapping import Mapping, RawTicket, WorkerAction, load_mapping
from connector.core.model import Source, SystemKind
from connector.core.notify.settings import NotifyChannel
from connector.core.planner import Action, Capabilities
from connector.core.policy import PolicySettings
from connector.core.policy.config import ScopeRule
from connector.settings import SourceSettings
from connector.store import Store
from connector.sync.executor import Executor, Notifier, TicketWriter
from connector.sync.page import utcnow
from connector.sync.pipeline import Pipeline
from connector.sync.reader import (
    Adapter,
    fetch_in_scope,
    fetch_many,
    open_adapter,
    site_mapping,
)
from connector.systems.jira import JiraAdapter
from connector.systems.writers import JiraWriter, ServiceNowWriter


@dataclass
class SourceRuntime:
    name: str
    settings: SourceSettings
    mapping: Mapping
    adapter: Adapter
    store: Store
    policy: PolicySettings = field(default_factory=PolicySettings)
    clock: Callable[[], datetime] = utcnow
    release_notes: ReleaseNotesSettings = field(default_factory=ReleaseNotesSettings)
    observe: Callable[[Action, str], None] | None = None  # see Executor.observe
    # Chat notifications: the channels, the client that posts to them, and the switch that
    # turns both planning and posting off for this source (e.g. while it is only observed).
    notify: tuple[NotifyChannel, ...] = ()
    chat: Notifier | None = None
    notify_enabled: bool = True

    @property
    def posts_notifications(self) -> bool:
        return self.notify_enabled and bool(self.notify) and self.chat is not None

    @property
    def is_jira(self) -> bool:
        return isinstance(self.adapter, JiraAdapter)

    @property
    def user_time_zone(self) -> str:
        return self.adapter.user_time_zone if isinstance(self.adapter, JiraAdapter) else "UTC"

    @property
    def source(self) -> Source:
        return Source(instance=self.name, kind=self.adapter.kind)

    @property
    def writer(self) -> TicketWriter:
        if isinstance(self.adapter, JiraAdapter):
            return JiraWriter(self.adapter, self.mapping)
        return ServiceNowWriter(self.adapter, self.mapping)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            actions=frozenset(a.value for a in WorkerAction if self.mapping.action(a)),
            labels=self.is_jira,
            note_format="wiki" if self.is_jira else "sn",
        )

    @property
    def gate(self) -> Gate:
        """Which planned writes this source may make (connector/core/gate.py)."""
        return Gate(mode=self.settings.mode, act_after=self.settings.act_after(self.policy.zone()))

    def policy_digest(self) -> str:
        """The digest the stored evaluations were reached under: the policy's and the gate's."""
        return self.gate.digest(self.policy.digest())

    def fetch(self, key: str) -> RawTicket | None:
        """One ticket re-read by key, in the shape polling yields; None when out of scope."""
        return fetch_in_scope(self.adapter, self.mapping, key)

    def fetch_many(self, keys: list[str]) -> list[RawTicket]:
        """The tickets `keys` names, re-read in bulk; those gone or out of scope left out."""
        return fetch_many(self.adapter, self.mapping, keys)

    def pipeline(self, *, dry_run: bool = False) -> Pipeline:
        return Pipeline(
            store=self.store,
            source=self.source,
            mapping=self.mapping,
            base_url=self.settings.url,
            policy=self.policy,
            caps=self.capabilities,
            clock=self.clock,
            dry_run=dry_run,
            release_notes=self.release_notes,
            notify=self.notify if self.posts_notifications else (),
            gate=self.gate,
        )

    def executor(self, *, worker: str, lease_seconds: float = 300.0) -> Executor:
        return Executor(
            store=self.store,
            writer=self.writer,
            worker=worker,
            lease_seconds=lease_seconds,
            clock=self.clock,
            observe=self.observe,
            notifier=self.chat if self.posts_notifications else None,
            hold=OBSERVE_REASON if self.gate.observing else None,
            # an in-memory SQLite store is one database per connection: not across threads
            concurrency=self.settings.write_concurrency if self.store.shared_between_threads else 1,
            # a request may wait its timeout to connect, then as long for the answer
            grace_seconds=2 * self.settings.timeout_seconds,
        )

    def close(self) -> None:
        self.adapter.close()


def open_runtime(
    name: str,
    settings: SourceSettings,
    store: Store,
    *,
    policy: PolicySettings | None = None,
    clock: Callable[[], datetime] = utcnow,
    release_notes: ReleaseNotesSettings | None = None,
    notify: tuple[NotifyChannel, ...] = (),
    chat: Notifier | None = None,
) -> SourceRuntime:
    mapping = load_mapping(settings.mapping)
    policy = policy or PolicySettings()
    if name in policy.scope:
        mapping = scoped(mapping, policy.scope[name], where=f"policy.scope.{name}")
    adapter = open_adapter(name, settings)
    try:
        mapping = site_mapping(adapter, mapping, file=str(settings.mapping))
    except BaseException:
        adapter.close()
        raise
    return SourceRuntime(
        name=name,
        settings=settings,
        mapping=mapping,
        adapter=adapter,
        store=store,
        policy=policy,
        clock=clock,
        release_notes=release_notes or ReleaseNotesSettings(),
        notify=notify,
        chat=chat,
    )


def scoped(mapping: Mapping, rule: ScopeRule, *, where: str) -> Mapping:
    """The mapping with the policy's scope rule applied: lists replace, queries are ANDed."""
    jira = mapping.system == "jira"
    wrong = (
        [k for k in ("query",) if getattr(rule, k)]
        if jira
        else [k for k in ("projects", "issue_types", "jql") if getattr(rule, k)]
    )
    if wrong:
        raise ConfigError(f"{where}.{wrong[0]}: not used by {mapping.system} sources")
    scope = mapping.scope
    update = {
        "projects": rule.projects or scope.projects,
        "issue_types": rule.issue_types or scope.issue_types,
        "jql": " AND ".join(f"({q})" for q in (scope.jql, rule.jql) if q),
        "query": "^".join(q for q in (scope.query, rule.query) if q),
    }
    return mapping.model_copy(update={"scope": scope.model_copy(update=update)})


def offline_pipeline(
    name: str,
    settings: SourceSettings,
    store: Store,
    *,
    policy: PolicySettings,
    clock: Callable[[], datetime] = utcnow,
) -> Pipeline:
    """A dry-run pipeline over stored changes only (agenda, back-testing): no client opened."""
    mapping = load_mapping(settings.mapping)
    kind = SystemKind.SERVICENOW if settings.kind == "servicenow" else SystemKind.JIRA_CLOUD
    return Pipeline(
        store=store,
        source=Source(instance=name, kind=kind),
        mapping=mapping,
        base_url=settings.url,
        policy=policy,
        caps=Capabilities(
            actions=frozenset(a.value for a in WorkerAction if mapping.action(a)),
            labels=settings.kind == "jira",
            note_format="wiki" if settings.kind == "jira" else "sn",
        ),
        clock=clock,
        dry_run=True,
        # Stored changes evaluated again for a report or an agenda need no release notes.
        release_notes=ReleaseNotesSettings(enabled=False),
    )

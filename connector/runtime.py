"""Wiring of one configured source: settings + mapping + adapter + note writer + store.

The imperative shell builds a `SourceRuntime` per source at start; the pure core never sees
any of it. The note writers adapt each system's marker-carrying writes (a Jira comment with a
comment property, a ServiceNow work note with a `[cc:...]` tag) to the executor's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.executor import Executor, TicketWriter
from connector.mapping import Mapping, load_mapping
from connector.model import Source
from connector.pipeline import Pipeline
from connector.policy import DEFAULT_RULES
from connector.reader import Adapter, open_adapter
from connector.settings import SourceSettings
from connector.store import Store
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter


class JiraNotes:
    def __init__(self, adapter: JiraAdapter) -> None:
        self.adapter = adapter

    def find_note(self, ticket: str, *, marker: str) -> str | None:
        return self.adapter.find_comment(ticket, marker)

    def post_note(self, ticket: str, *, body: str, marker: str) -> str:
        return self.adapter.post_comment(ticket, body=body, marker=marker)


class ServiceNowNotes:
    def __init__(self, adapter: ServiceNowAdapter) -> None:
        self.adapter = adapter

    def find_note(self, ticket: str, *, marker: str) -> str | None:
        return self.adapter.find_work_note(ticket, marker)

    def post_note(self, ticket: str, *, body: str, marker: str) -> str:
        return self.adapter.add_work_note(ticket, text=body, marker=marker)


@dataclass
class SourceRuntime:
    name: str
    settings: SourceSettings
    mapping: Mapping
    adapter: Adapter
    store: Store

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
            return JiraNotes(self.adapter)
        return ServiceNowNotes(self.adapter)

    def pipeline(self, *, dry_run: bool = False) -> Pipeline:
        return Pipeline(
            store=self.store,
            source=self.source,
            mapping=self.mapping,
            base_url=self.settings.url,
            rules=DEFAULT_RULES,
            dry_run=dry_run,
        )

    def executor(self, *, worker: str, lease_seconds: float = 300.0) -> Executor:
        return Executor(
            store=self.store, writer=self.writer, worker=worker, lease_seconds=lease_seconds
        )

    def close(self) -> None:
        self.adapter.close()


def open_runtime(name: str, settings: SourceSettings, store: Store) -> SourceRuntime:
    mapping = load_mapping(settings.mapping)
    return SourceRuntime(
        name=name,
        settings=settings,
        mapping=mapping,
        adapter=open_adapter(name, settings),
        store=store,
    )

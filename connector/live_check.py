"""`mappings check --live`: ask each configured source whether its mapping matches the site.

Jira: every mapped field id must be in `GET /field`, and every action's transition name must be
offered on at least one in-scope issue (transitions are workflow-bound, so one issue per status
is sampled). ServiceNow: every mapped column must exist on the table (the Table API returns
every column of a record). Each source gives one line and whether it matched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from connector.errors import MappingError
from connector.mapping import Mapping, load_mapping, referenced_fields, referenced_transitions
from connector.reader import open_adapter, scope_jql, site_mapping
from connector.settings import load_settings
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter

_SAMPLE_LIMIT = 500


def check_live(config: Path) -> Iterator[tuple[str, bool]]:
    settings = load_settings(config)
    for name, source in settings.sources.items():
        mapping = load_mapping(source.mapping)
        with closing(open_adapter(name, source)) as adapter:
            try:
                mapping = site_mapping(adapter, mapping, file=str(source.mapping))
            except MappingError as exc:
                yield f"{name}: {exc}", False
                continue
            if isinstance(adapter, JiraAdapter):
                missing = _jira_missing(adapter, mapping)
            else:
                missing = _servicenow_missing(adapter, mapping)
        if missing:
            yield f"{name}: {source.mapping}: " + "; ".join(missing), False
        else:
            yield f"{name}: {source.mapping}: every mapped field and transition exists", True


def _jira_missing(adapter: JiraAdapter, mapping: Mapping) -> list[str]:
    known = adapter.field_ids()
    # Writes may name fields that only exist on transition screens (resolution); those are
    # checked through the transitions, not the field list.
    fields = sorted(f for f in referenced_fields(mapping) if f not in known and f != "resolution")
    wanted = referenced_transitions(mapping)
    missing = [f"unknown field {f}" for f in fields]
    if wanted:
        offered = adapter.transition_names(_one_issue_per_status(adapter, mapping))
        missing += [f"no transition named {t!r}" for t in sorted(wanted - offered)]
    return missing


def _one_issue_per_status(adapter: JiraAdapter, mapping: Mapping) -> list[str]:
    by_status: dict[str, str] = {}
    for seen, issue in enumerate(adapter.search(scope_jql(mapping, order=False), fields="status")):
        status = issue.get("fields", {}).get("status", {}).get("name", "")
        by_status.setdefault(status, issue["key"])
        if seen >= _SAMPLE_LIMIT:
            break
    return list(by_status.values())


def _servicenow_missing(adapter: ServiceNowAdapter, mapping: Mapping) -> list[str]:
    columns = adapter.columns()
    wanted = {f.split(".", 1)[0] for f in referenced_fields(mapping)}
    # Journal columns are write-only and do not come back on reads.
    wanted -= {"work_notes", "comments"}
    return [f"unknown column {c}" for c in sorted(wanted - columns)]

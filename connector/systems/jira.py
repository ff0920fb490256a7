"""Jira adapter (Cloud and Data Center) on the `jira` client: read issues, write back with markers.

The deployment is read from serverInfo: Cloud searches `/search/jql` with token paging (the old
`/search` is gone there), Data Center `/search` with startAt/total. Pages are yielded as they
arrive; nothing here holds more than one page. Construction makes the fixed calls (serverInfo,
myself for the API user's time zone); `/field` is read lazily.

Every request runs through `systems.http.call` (the one retry policy); the client's own retries
are off (`max_retries=0`) and every request has a timeout. Searches and re-reads bring each
issue's `change-connector` property (the sync markers, see `jira_markers` and `jira_notes`)
along, and outside observe mode the transitions each issue offers (`expand=transitions`), so
checking a write before making it costs no call (`jira_seen`). Transitions are looked up by name
and skipped when the issue is already in the target status (`jira_workflow`); a label edit is
skipped when the issue already is as asked (comments, properties and labels: `jira_edits`). A
write on an issue whose cached markers hold comment ids its property lacks carries the property
along (`properties` of the transition or the edit). Bodies are v2 wiki markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from jira import JIRA, JIRAError

from connector.core.errors import NotFoundError, PermanentError, TicketDeleted
from connector.core.mapping import RawTicket
from connector.core.model import SystemKind
from connector.core.paging import OffsetPaginator, TokenPaginator
from connector.settings import SourceSettings
from connector.systems import http
from connector.systems.jira_edits import JiraEdits
from connector.systems.jira_markers import PROPERTY_KEY
from connector.systems.jira_notes import JiraNotes
from connector.systems.jira_seen import SEEN_FIELDS
from connector.systems.jira_workflow import JiraWorkflow
from connector.systems.paths import segment

T = TypeVar("T")
BULK_FETCH_MAX = 100  # issues a `POST issue/bulkfetch` may name


def jql_datetime(moment: datetime, tz: str | ZoneInfo) -> str:
    """A quoted JQL date literal for `moment`, as the API user's zone reads it: "2026-01-01 10:00".

    JQL has minute precision; the seconds are dropped (floored), so a `>=` bound made from it
    reaches back up to a minute: pair it with a look-back window and dedupe on (key, updated).
    """
    if moment.tzinfo is None:
        raise ValueError("jql_datetime needs a timezone-aware datetime")
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return f'"{moment.astimezone(zone):%Y-%m-%d %H:%M}"'


class JiraAdapter(JiraEdits, JiraWorkflow):
    system = "Jira"

    def __init__(
        self, name: str, settings: SourceSettings, *, policy: http.RetryPolicy | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self.policy = policy or http.policy_for(settings)
        self.client = self._client()
        self._track_responses(self.client._session)
        info = self._call(self.client.server_info, "read serverInfo")
        # What JIRA(get_server_info=True) would set; read here so that a failed attempt is
        # retried on the same session instead of leaving a half-built client's socket open.
        self.client.deploymentType = info.get("deploymentType")
        self.client._version = tuple(info.get("versionNumbers") or (0, 0, 0))
        self.kind = (
            SystemKind.JIRA_CLOUD
            if self.client.deploymentType == "Cloud"
            else SystemKind.JIRA_DATACENTER
        )
        me = self._call(self.client.myself, "read the API user")
        self.user_time_zone: str = str(me.get("timeZone") or "UTC")
        self._transition_targets: dict[str, str] = {}  # transition name -> status name, as seen
        self.notes = JiraNotes(self)  # the markers of the issues read in this cycle

    def _client(self) -> JIRA:
        """The client, without I/O: its own retries off, a timeout on every request."""
        return JIRA(
            server=self.base_url,
            basic_auth=(self.settings.username, self.settings.token.get_secret_value()),
            options={"verify": self.settings.verify, "check_update": False},
            max_retries=0,
            timeout=self.settings.timeout_seconds,
            get_server_info=False,
        )

    def close(self) -> None:
        """Close the HTTP session (its keep-alive connections)."""
        self.client.close()  # type: ignore[no-untyped-call]

    # -- plumbing ----------------------------------------------------------------------------

    def _translate(self, exc: BaseException, what: str) -> BaseException | None:
        if not isinstance(exc, JIRAError):
            return None
        response = exc.response
        headers = response.headers if response is not None else {}
        if response is not None:
            response.close()  # hand its connection back now, not when the error is collected
        return http.error_for_status(
            exc.status_code,
            source=self.name,
            what=what,
            system="Jira",
            detail=exc.text or "",
            retry_after=http.parse_retry_after(headers.get("Retry-After"), now=self.policy.clock()),
        )

    def _rest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """One REST call on the client's session (auth, timeout, verify); JSON or None."""
        response = self.client._session.request(
            method,
            self.client._get_url(path),
            params=params,
            data=json.dumps(body) if body is not None else None,
        )
        return http.decode_json(response.content) if response.content else None

    def _submit(self, path: str, body: Any) -> str:
        """POST to an asynchronous operation (Jira answers 303 with the task's `Location`); the
        redirect is not followed, so each poll of the task is a call of its own."""
        response = self.client._session.request(
            "POST", self.client._get_url(path), data=json.dumps(body), allow_redirects=False
        )
        location = response.headers.get("Location")
        if response.status_code != 303 or not location:
            raise PermanentError(
                f"{self.name}: {path}: Jira answered {response.status_code} without a task"
            )
        return str(location)

    # -- reads -------------------------------------------------------------------------------

    @property
    def _writes(self) -> bool:
        """Whether writes may follow the reads (not in observe mode): only then are the offered
        transitions asked for, and what a search read kept for the checks before writes."""
        return self.settings.mode != "observe"

    @property
    def _expand(self) -> str | None:
        """What each read expands: the transitions offered, where writes may follow."""
        return "transitions" if self._writes else None

    def search(
        self,
        jql: str,
        *,
        fields: str | Sequence[str] = "*all",
        reconcile: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Every issue matching `jql`, page by page, as raw v2 JSON, each with its markers.

        `fields`: "*all", or the fields the caller reads (the mapping's: on a real site a
        ticket has hundreds of custom fields, most of a page's bytes).

        `reconcile`: ids of issues this worker just wrote (Cloud's search is eventually
        consistent; `reconcileIssues`, at most 50, makes it show them as they are now)."""
        # Named fields: the caller's, and what the checks before writes read (`jira_seen`).
        wanted = fields if isinstance(fields, str) else ",".join(sorted({*fields, *SEEN_FIELDS}))
        pages = (
            self._search_cloud(jql, wanted, [int(i) for i in reconcile if i.isdigit()])
            if self.kind is SystemKind.JIRA_CLOUD
            else self._search_datacenter(jql, wanted)
        )
        if not self._writes:  # observe mode: no check will ask, and a large site's state stays out
            yield from pages
            return
        for issue in pages:
            self.notes.cache.seen(issue)
            yield issue

    def _search_cloud(
        self, jql: str, fields: str, reconcile: list[int]
    ) -> Iterator[dict[str, Any]]:
        pages = TokenPaginator(where=f"{self.name}: search issues")
        while not pages.finished:
            page = self._call(
                partial(self._cloud_page, jql, fields, pages.token, reconcile), "search issues"
            )
            issues = page.get("issues") or []
            yield from issues
            # The documented end is a page without nextPageToken; isLast is optional.
            first = str(issues[0].get("id")) if issues else None
            pages.advance(next_token=page.get("nextPageToken"), received=len(issues), first=first)

    def _cloud_page(
        self, jql: str, fields: str, token: str | None, reconcile: list[int]
    ) -> dict[str, Any]:
        # The page is read on the client's session (auth, timeout, verify, errors as
        # JIRAError) but decoded here: a page is the read path's largest body.
        params: dict[str, Any] = {
            "jql": jql,
            "fields": fields.split(","),
            "expand": self._expand,
            "properties": PROPERTY_KEY,
            "reconcileIssues": reconcile,
            "maxResults": self.settings.page_size,
        }
        if token:
            params["nextPageToken"] = token
        page = self._rest("GET", "search/jql", params=params)
        assert isinstance(page, dict)
        return page

    def _search_datacenter(self, jql: str, fields: str) -> Iterator[dict[str, Any]]:
        pages = OffsetPaginator(where=f"{self.name}: search issues")
        while not pages.finished:
            page = self._call(partial(self._dc_page, jql, fields, pages.offset), "search issues")
            issues = page.get("issues") or []
            yield from issues
            # A page may be shorter than maxResults (the server's own maximum) while more follow.
            first = str(issues[0].get("id")) if issues else None
            total, start_at = page.get("total"), page.get("startAt")
            pages.advance(received=len(issues), total=total, start_at=start_at, first=first)

    def _dc_page(self, jql: str, fields: str, offset: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "jql": jql,
            "startAt": offset,
            "maxResults": self.settings.page_size,
            "fields": fields.split(","),
            "expand": self._expand,
            "properties": PROPERTY_KEY,
            "validateQuery": True,
        }
        page = self._rest("GET", "search", params=params)
        assert isinstance(page, dict)
        return page

    def issue(self, key: str, *, fields: str = "*all") -> dict[str, Any]:
        """One issue by key, with its markers (kept for the checks before writing)."""
        params = {"fields": fields, "properties": PROPERTY_KEY}
        if self._expand:
            params["expand"] = self._expand
        raw: dict[str, Any] = self._call(
            lambda: self._rest("GET", f"issue/{segment(key)}", params=params), f"read {key}"
        )
        self.notes.cache.seen(raw)
        return raw

    def recall(self, names: Iterable[str]) -> None:
        """Read again, in bulk, what the checks before writing need of the issues `names` (ids
        or keys) no longer held since their page (writes follow the scan, and the cache keeps
        the last `CACHE_ISSUES` read): Cloud's `POST issue/bulkfetch`, 100 issues a call, with
        the markers, the check's fields and the offered transitions. An issue it leaves out
        (gone, hidden) is read on its own by its check, which says why. Data Center has no
        bulk read by id: each check reads its issue then, as before."""
        if self.kind is not SystemKind.JIRA_CLOUD or not self._writes:
            return
        missing = sorted(set(self.notes.cache.missing(names)))
        for start in range(0, len(missing), BULK_FETCH_MAX):
            body = {
                "issueIdsOrKeys": missing[start : start + BULK_FETCH_MAX],
                "fields": list(SEEN_FIELDS),
                "properties": [PROPERTY_KEY],
                "expand": ["transitions"],
            }
            page = self._call(
                partial(self._rest, "POST", "issue/bulkfetch", body=body), "read issues to write"
            )
            for issue in page.get("issues") or []:
                self.notes.cache.seen(issue)

    def known_ids(self, keys: Iterable[str]) -> list[str]:
        """The ids of the issues `keys` names, where a read showed them."""
        return [i for k in keys if (i := self.notes.cache.id_of(k)) is not None]

    def fetch(self, key: str) -> RawTicket:
        """One issue re-read by key (the webhook drain), in the shape `search` yields.

        A 404 is `TicketDeleted`: Jira answers it for a deleted issue (the delete webhook is
        only a hint, this re-read confirms it) and for one the user may no longer see."""
        try:
            return RawTicket(data=self.issue(key))
        except NotFoundError as exc:
            raise TicketDeleted(exc.message, key=key) from None

    def field_ids(self) -> set[str]:
        return {field_id for field_id, _ in self.field_names()}

    def field_names(self) -> list[tuple[str, str]]:
        """(id, name) of every field of the site (`GET /field`)."""
        fields = self._call(self.client.fields, "read fields")
        return [(f["id"], f.get("name") or "") for f in fields]

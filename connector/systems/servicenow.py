"""ServiceNow adapter on `pysnc`: read change_request records with approvals, write back with tags.

Records are read sorted on (sys_updated_on, sys_id) with `sysparm_display_value=all`, so the
mapping sees both the stored value and what people see; rows are `serialize(display_value=
"both")` dicts. pysnc's own urllib3 retries are off (`auto_retry=False`) and a default timeout
and the configured CA bundle are mounted on its session, since pysnc sets neither. Every request
runs through `systems.http.call`, the one retry policy; a response hook applies its status table
where the status and Retry-After are still known (pysnc folds every status into one exception).

Work notes carry their marker inside the journal entry itself: the text ends with `[cc:<marker>]`.
`find_work_note` reads the change record's own journal fields (`work_notes`, `comments` as display
values: the entries as the form shows them, "<time> - <name> (Work notes)\n<text>\n\n"), which the
itil role reads with the record; `sys_journal_field` is an admin / audit_viewer table on a real
instance. Every page of changes carries those journal fields already (the Table API returns every
column), so the adapter remembers which markers each change's journal held when it was read
(outside observe mode, where no write follows), plus the markers of its own confirmed writes: a
marker check costs no call. A write whose answer is lost forgets what was remembered, so the next
check reads the record. The columns the writer's actions set (`watch`) are remembered the same way,
so a state change is checked against the row its page carried, not read again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from pysnc import ServiceNowClient
from pysnc.exceptions import AuthenticationException, RoleException
from pysnc.exceptions import RequestException as SNRequestException

from connector.core.errors import ConfigError, PermanentError, TicketDeleted
from connector.core.mapping import RawTicket
from connector.core.model import SystemKind
from connector.settings import SourceSettings
from connector.systems import http
from connector.systems.paths import query_value, segment
from connector.systems.servicenow_journal import (
    JOURNAL_FIELDS,
    journal_markers,
    marker_tag,
    note_ref,
    refreshed,
    remember,
)
from connector.systems.servicenow_meta import (
    TableDescriptions,
    error_detail,
    raise_unless_ok,
    value_of,
)
from connector.systems.servicenow_session import PinnedAdapter, sn_detail, table_of

T = TypeVar("T")

CHANGE_TABLE = "change_request"
APPROVAL_TABLE = "sysapproval_approver"


def glide_datetime(moment: datetime) -> str:
    """An encoded-query date literal: UTC, one-second precision (`2026-01-01 10:00:00`)."""
    if moment.tzinfo is None:
        raise ValueError("glide_datetime needs a timezone-aware datetime")
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


class ServiceNowAdapter(TableDescriptions):
    system = "ServiceNow"
    kind = SystemKind.SERVICENOW

    def __init__(
        self, name: str, settings: SourceSettings, *, policy: http.RetryPolicy | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self.policy = policy or http.policy_for(settings)
        self.client = ServiceNowClient(
            self.base_url,
            (settings.username, settings.token.get_secret_value()),
            verify=settings.verify,
            auto_retry=False,
        )
        self.client.session.mount(
            "https://", PinnedAdapter(timeout=settings.timeout_seconds, verify=settings.verify)
        )
        self.client.session.hooks["response"].append(self._raise_by_status)
        # change sys_id -> {marker: journal field holding it}, as last read.
        self._journals: dict[str, dict[str, str]] = {}
        # The page reader and the writer threads (write_concurrency) share these memos.
        self._memo_lock = threading.Lock()
        # change sys_id -> {column: value} of the watched columns, as last read or written.
        self._columns: dict[str, dict[str, str]] = {}
        self._watched: frozenset[str] = frozenset()
        self._journal_readable = False  # a written note was read back through the record
        self._track_responses(self.client.session)

    def _raise_by_status(self, response: requests.Response, **_: Any) -> None:
        """Transient and credential failures, decided here while the headers are known.

        Other 4xx answers are left to the caller (pysnc reads a 404 on get as "no record").
        """
        status = response.status_code
        if status in http.CONFIG_STATUSES or status in http.TRANSIENT_STATUSES or status >= 500:
            error = http.error_for_status(
                status,
                source=self.name,
                what=f"{response.request.method} {table_of(response.url)}",
                system="ServiceNow",
                detail=error_detail(response),
                retry_after=http.parse_retry_after(
                    response.headers.get("Retry-After"), now=self.policy.clock()
                ),
            )
            # Hooks run before requests reads the body: release the connection ourselves.
            response.close()
            raise error

    def close(self) -> None:
        """Close the HTTP session (its keep-alive connections)."""
        self.client.session.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _translate(self, exc: BaseException, what: str) -> BaseException | None:
        if isinstance(exc, AuthenticationException | RoleException):
            return ConfigError(f"{self.name}: {what}: ServiceNow refused the credentials")
        if isinstance(exc, SNRequestException):
            return PermanentError(f"{self.name}: {what}: ServiceNow refused: {sn_detail(exc)}")
        return None

    def _query(self, table: str, query: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """One bounded GlideRecord query, serialized with value and display value."""
        size = limit or self.settings.page_size
        gr = self.client.GlideRecord(table, batch_size=size)
        gr.limit = size
        gr.add_encoded_query(query)
        gr.query()
        return [record.serialize(display_value="both") for record in gr]

    def _patch(self, sys_id: str, body: dict[str, Any]) -> None:
        """PATCH one change. Until the instance confirms the write, what was remembered of
        its journal is forgotten (a write whose answer is lost may or may not have landed);
        once confirmed, the markers the write added are remembered with the rest."""
        with self._memo_lock:
            known = self._journals.pop(sys_id, None)
            columns = self._columns.pop(sys_id, None)
        url = f"{self.base_url}/api/now/table/{CHANGE_TABLE}/{segment(sys_id)}"
        params = {"sysparm_fields": "sys_id", "sysparm_suppress_pagination_header": "true"}
        response = self.client.session.patch(url, json=body, params=params)
        raise_unless_ok(response, source=self.name, what=f"update {sys_id}", deleted=sys_id)
        with self._memo_lock:
            if known is not None:
                remember(self._journals, sys_id, {**known, **journal_markers(body)})
            if columns is not None:
                written = {k: _text(v) for k, v in body.items() if k in self._watched}
                remember(self._columns, sys_id, {**columns, **written})

    # -- reads -------------------------------------------------------------------------------

    def changes(self, encoded_query: str = "") -> Iterator[dict[str, Any]]:
        """change_request rows matching the query, ordered by (sys_updated_on, sys_id).

        Keyset paging, one page in memory. After a page ending at (t, id) that reaches back
        before second t, the next page is asked from second t on (`sys_updated_on>=t`): the
        rows of t already read come again (fewer than a page) and are skipped, so one query
        per page. After a page of one second only, or one that brought nothing new (the end,
        or rows an ACL hides), first the rest of second t (`sys_updated_on=t^sys_id>id`), then
        what came later (`sys_updated_on>t`). A page may hold fewer rows than asked while more
        follow (rows an ACL hides are taken out after the query), so only an empty one ends.
        Unlike offset paging, rows updated while we page neither shift nor hide others.
        (pysnc's own non-rewindable iteration drops the last row of its first page, so each
        page is a fresh, bounded GlideRecord.)
        """
        base = f"{encoded_query}^" if encoded_query else ""
        order = "ORDERBYsys_updated_on^ORDERBYsys_id"
        page, after = self._page(f"{base}{order}"), None
        while page:
            fresh = page if after is None else [r for r in page if _position(r) > after]
            yield from fresh
            last = _position(page[-1])
            if fresh and _position(page[0])[0] < last[0]:
                page, after = (
                    self._page(f"{base}sys_updated_on>={query_value(last[0])}^{order}"),
                    last,
                )
                continue
            yield from self._drain_second(base, *last)
            page, after = self._page(f"{base}sys_updated_on>{query_value(last[0])}^{order}"), None

    def _drain_second(self, base: str, updated: str, after_id: str) -> Iterator[dict[str, Any]]:
        while rows := self._page(
            f"{base}sys_updated_on={query_value(updated)}^sys_id>{query_value(after_id)}^ORDERBYsys_id"
        ):
            yield from rows
            after_id = value_of(rows[-1]["sys_id"])

    def _page(self, query: str) -> list[dict[str, Any]]:
        rows = self._call(lambda: self._query(CHANGE_TABLE, query), "read changes")
        if self.settings.mode != "observe":  # observe mode writes nothing: no check will ask
            for row in rows:
                self._keep_markers(row)
        return rows

    def _keep_markers(self, row: dict[str, Any]) -> None:
        """Keep the markers of a change's journal fields, when the row carries them, and its
        watched columns."""
        sys_id = value_of(row.get("sys_id"))
        with self._memo_lock:
            if sys_id and all(f in row for f in JOURNAL_FIELDS):
                remember(self._journals, sys_id, journal_markers(row))
            if sys_id and self._watched and all(c in row for c in self._watched):
                remember(self._columns, sys_id, {c: value_of(row[c]) for c in self._watched})
            elif sys_id:
                self._columns.pop(sys_id, None)  # what was kept is older than this read

    def forget(self, sys_id: str) -> None:
        """Drop what was kept of a change's journal and columns: its next check reads them."""
        with self._memo_lock:
            self._journals.pop(sys_id, None)
            self._columns.pop(sys_id, None)

    def watch(self, columns: Iterable[str]) -> None:
        """Remember these columns of every change read, for the checks before writing them."""
        self._watched = frozenset({*self._watched, *columns})
        self._columns.clear()

    def known_columns(self, sys_id: str) -> dict[str, str]:
        """The watched columns of a change as last read or written; read now when not known.
        Raises TicketDeleted when the record is gone."""
        known = self._columns.get(sys_id)
        if known is None:
            row = self.get_change(sys_id)
            if row is None:
                raise TicketDeleted(
                    f"{self.name}: {sys_id}: the change_request is deleted", key=sys_id
                )
            known = {c: value_of(row.get(c)) for c in {*self._watched, *row}}
        return known

    def recall(self, sys_ids: Iterable[str]) -> None:
        """Read again, in bulk, what the checks before writing need of the changes `sys_ids`
        no longer remembered since their page (writes follow the scan, and the memos keep the
        last `REMEMBERED` changes read): one `sys_idIN` query a page of them."""
        if self.settings.mode == "observe":
            return
        memos = [self._journals, self._columns] if self._watched else [self._journals]
        with self._memo_lock:  # every memo made newest: a list, not a short-circuit
            missing = sorted(
                {s for s in sys_ids if not all([refreshed(memo, s) for memo in memos])}
            )
        for start in range(0, len(missing), self.settings.page_size):
            self._rows_in("sys_id", missing[start : start + self.settings.page_size])

    def changes_by_number(
        self, numbers: list[str], encoded_query: str = ""
    ) -> list[dict[str, Any]]:
        """The change_request rows `numbers` names (and `encoded_query` matches). Absent ones
        are left out."""
        return self._rows_in("number", numbers, encoded_query)

    def _rows_in(
        self, column: str, values: list[str], encoded_query: str = ""
    ) -> list[dict[str, Any]]:
        """The change_request rows whose unique `column` is one of `values` (and that
        `encoded_query` matches): one query, the rows fitting in one page of `len(values)`."""
        if not values:
            return []
        wanted = f"{column}IN{','.join(query_value(v) for v in values)}"
        query = "^".join(p for p in (encoded_query, wanted) if p)
        return self._call(
            lambda: self._kept(self._query(CHANGE_TABLE, query, limit=len(values))),
            "read changes",
        )

    def _kept(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.settings.mode != "observe":  # observe mode writes nothing: no check will ask
            for row in rows:
                self._keep_markers(row)
        return rows

    def approvals(
        self, sys_ids: list[str], *, table: str = APPROVAL_TABLE
    ) -> dict[str, list[dict[str, Any]]]:
        """Approval rows (sysapproval_approver) for these changes, grouped by change sys_id."""
        out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in sys_ids}
        if sys_ids:
            for row in self._call(lambda: self._approval_rows(sys_ids, table), "read approvals"):
                out.setdefault(value_of(row.get("sysapproval")), []).append(row)
        return out

    def _approval_rows(self, sys_ids: list[str], table: str) -> list[dict[str, Any]]:
        gr = self.client.GlideRecord(table, batch_size=500)
        gr.add_encoded_query(f"sysapprovalIN{','.join(query_value(s) for s in sys_ids)}")
        gr.order_by("sys_created_on")
        gr.query()
        return [record.serialize(display_value="both") for record in gr]

    def get_change(self, sys_id: str) -> dict[str, Any] | None:
        """One change_request row by sys_id, in the shape `changes()` yields; None if absent."""
        return self._one(f"sys_id={query_value(sys_id)}", f"read {sys_id}")

    def get_change_by_number(self, number: str) -> dict[str, Any] | None:
        """One change_request row by number (CHG0030001); None if absent."""
        return self._one(f"number={query_value(number)}", f"read {number}")

    def _one(self, query: str, what: str) -> dict[str, Any] | None:
        rows = self._call(lambda: self._query(CHANGE_TABLE, query, limit=1), what)
        if rows:
            self._keep_markers(rows[0])
        return rows[0] if rows else None

    def fetch(self, key: str, *, approvals_table: str = APPROVAL_TABLE) -> RawTicket:
        """One change re-read by number (or sys_id) with its approvals, for the webhook drain.

        Raises TicketDeleted when the instance has no such record (any more): a query by
        number that finds nothing, a sys_id whose GET answers 404."""
        row = self.get_change_by_number(key) or (self.get_change(key) if len(key) == 32 else None)
        if row is None:
            raise TicketDeleted(f"{self.name}: {key}: the change_request is deleted", key=key)
        sys_id = value_of(row.get("sys_id"))
        approvals = self.approvals([sys_id], table=approvals_table)
        return RawTicket(data=row, related={approvals_table: approvals.get(sys_id, [])})

    def columns(self) -> set[str]:
        """The columns of change_request, read off one record (the Table API returns all)."""
        rows = self._call(lambda: self._query(CHANGE_TABLE, "", limit=1), "read columns")
        return set(rows[0].keys()) if rows else set()

    # -- writes ------------------------------------------------------------------------------

    def add_work_note(
        self, sys_id: str, *, text: str, marker: str, customer_visible: bool = False
    ) -> str:
        """Append a work note (or customer-visible comment) ending with `[cc:<marker>]`.

        Returns the note's ref, `<sys_id>/<field>/<marker>` (stable: the same whether this call
        wrote it or found it). Never writes twice: after a failed attempt the change's journal
        is read again for the marker before writing again. The first note this adapter writes
        is read back, which proves the user can read the journal fields the marker check
        relies on; later ones trust the instance's confirmation."""
        element = "comments" if customer_visible else "work_notes"
        body = {element: f"{text.rstrip()}\n\n{marker_tag(marker)}"}

        def write() -> str:
            self._patch(sys_id, body)
            if self._journal_readable:
                return note_ref(sys_id, element, marker)
            found = self._find_note_once(sys_id, marker)
            if found is None:
                raise PermanentError(
                    f"{self.name}: {sys_id}: the {element} entry was written but its journal "
                    "does not show it (can this user read the change's journal fields?)"
                )
            self._journal_readable = True
            return found

        return self._call(
            write,
            f"add {element} to {sys_id}",
            idempotent=False,
            already_done=lambda: self._find_note_once(sys_id, marker),
        )

    def find_work_note(self, sys_id: str, marker: str) -> str | None:
        """The ref of the note on `sys_id` tagged with `marker`, if any: from the journal read
        with the change's page when nothing was written to it since, else read now."""
        known = self._journals.get(sys_id)
        if known is not None:
            return note_ref(sys_id, known[marker], marker) if marker in known else None
        return self._call(lambda: self._find_note_once(sys_id, marker), f"read journal {sys_id}")

    def _find_note_once(self, sys_id: str, marker: str) -> str | None:
        url = f"{self.base_url}/api/now/table/{CHANGE_TABLE}/{segment(sys_id)}"
        params = {
            "sysparm_fields": ",".join(("sys_id", *JOURNAL_FIELDS)),
            "sysparm_display_value": "true",
            "sysparm_exclude_reference_link": "true",
        }
        response = self.client.session.get(url, params=params)
        raise_unless_ok(response, source=self.name, what=f"read journal {sys_id}", deleted=sys_id)
        markers = journal_markers(response.json().get("result") or {})
        with self._memo_lock:
            remember(self._journals, sys_id, markers)
        return note_ref(sys_id, markers[marker], marker) if marker in markers else None

    def set_state(self, sys_id: str, *, state: str, fields: dict[str, Any] | None = None) -> bool:
        """Set `state` and `fields`, each checked apart (a record already in that state may still
        lack a field); False, writing nothing, when every one is set already."""
        return self.update_fields(sys_id, {**(fields or {}), "state": str(state)})

    def update_fields(self, sys_id: str, values: dict[str, Any]) -> bool:
        """PATCH the columns in `values` that differ from the record (as read with its page,
        see `known_columns`); False when none differ."""
        if not self._watched.issuperset(values):
            self.watch(values)
        row = self.known_columns(sys_id)
        changed = {k: v for k, v in values.items() if row.get(k) != _text(v)}
        if not changed:
            return False
        self._call(lambda: self._patch(sys_id, changed), f"update {sys_id}")
        return True


def _position(row: dict[str, Any]) -> tuple[str, str]:
    """A row's place in the keyset order: (sys_updated_on, sys_id), as the instance sorts them
    (its date-times and lower-case hex ids sort as text)."""
    return value_of(row.get("sys_updated_on")), value_of(row.get("sys_id"))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""ServiceNow adapter on `pysnc`: read change_request records with approvals, write back with tags.

Records are read sorted on (sys_updated_on, sys_id) with `sysparm_display_value=all`, so the
mapping sees both the stored value and what people see; rows are `serialize(display_value=
"both")` dicts. pysnc's own urllib3 retries are off (`auto_retry=False`) and a default timeout
and the configured CA bundle are mounted on its session, since pysnc sets neither. Every request
runs through `systems.http.call`, the one retry policy; a response hook applies its status table
where the status and Retry-After are still known (pysnc folds every status into one exception).

Work notes carry their marker inside the journal entry itself: the text ends with `[cc:<marker>]`,
so `find_work_note` can tell (via sys_journal_field) whether an earlier attempt landed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from pysnc import ServiceNowClient
from pysnc.exceptions import AuthenticationException, RoleException
from pysnc.exceptions import RequestException as SNRequestException
from requests.adapters import HTTPAdapter

from connector.errors import ConfigError, PermanentError, TicketDeleted
from connector.mapping import RawTicket
from connector.model import SystemKind
from connector.settings import SourceSettings
from connector.systems import http

T = TypeVar("T")

CHANGE_TABLE = "change_request"
APPROVAL_TABLE = "sysapproval_approver"
JOURNAL_TABLE = "sys_journal_field"
_MARKER = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def marker_tag(marker: str) -> str:
    """The tag that ends a work note written with `marker`: `[cc:<marker>]`."""
    if not _MARKER.match(marker):
        raise ValueError(f"marker {marker!r}: use letters, digits and . _ : - (at most 100)")
    return f"[cc:{marker}]"


def glide_datetime(moment: datetime) -> str:
    """An encoded-query date literal: UTC, one-second precision (`2026-01-01 10:00:00`)."""
    if moment.tzinfo is None:
        raise ValueError("glide_datetime needs a timezone-aware datetime")
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


class _PinnedAdapter(HTTPAdapter):
    """Every request gets a timeout and the configured CA bundle.

    pysnc sets neither per request, and because it passes `verify=None` to requests'
    environment merge, a `REQUESTS_CA_BUNDLE` in the environment would silently replace the
    configured bundle; pinning both here keeps the configuration authoritative.
    """

    def __init__(self, *, timeout: float, verify: str | bool) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout
        self.verify = verify

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request, stream=stream, timeout=timeout or self.timeout, verify=self.verify,
            cert=cert, proxies=proxies,
        )  # fmt: skip


class ServiceNowAdapter(http.PolicyClient):
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
            "https://", _PinnedAdapter(timeout=settings.timeout_seconds, verify=settings.verify)
        )
        self.client.session.hooks["response"].append(self._raise_by_status)
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
                what=f"{response.request.method} {_table_of(response.url)}",
                system="ServiceNow",
                detail=_error_detail(response),
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
            return PermanentError(f"{self.name}: {what}: ServiceNow refused: {_sn_detail(exc)}")
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
        url = f"{self.base_url}/api/now/table/{CHANGE_TABLE}/{sys_id}"
        params = {"sysparm_fields": "sys_id", "sysparm_suppress_pagination_header": "true"}
        response = self.client.session.patch(url, json=body, params=params)
        if not response.ok:
            raise http.error_for_status(
                response.status_code,
                source=self.name,
                what=f"update {sys_id}",
                system="ServiceNow",
                detail=_error_detail(response),
            )

    # -- reads -------------------------------------------------------------------------------

    def changes(self, encoded_query: str = "") -> Iterator[dict[str, Any]]:
        """change_request rows matching the query, ordered by (sys_updated_on, sys_id).

        Keyset paging, one page in memory: after a page ending at (t, id), first the rest of
        second t (`sys_updated_on=t^sys_id>id`), then what came later (`sys_updated_on>t`).
        Unlike offset paging, rows updated while we page neither shift nor hide others.
        (pysnc's own non-rewindable iteration drops the last row of its first page, so each
        page is a fresh, bounded GlideRecord.)
        """
        base = f"{encoded_query}^" if encoded_query else ""
        page = self._page(f"{base}ORDERBYsys_updated_on^ORDERBYsys_id")
        while page:
            yield from page
            updated, sys_id = _value(page[-1]["sys_updated_on"]), _value(page[-1]["sys_id"])
            yield from self._drain_second(base, updated, sys_id)
            page = self._page(f"{base}sys_updated_on>{updated}^ORDERBYsys_updated_on^ORDERBYsys_id")

    def _drain_second(self, base: str, updated: str, after_id: str) -> Iterator[dict[str, Any]]:
        while rows := self._page(f"{base}sys_updated_on={updated}^sys_id>{after_id}^ORDERBYsys_id"):
            yield from rows
            after_id = _value(rows[-1]["sys_id"])

    def _page(self, query: str) -> list[dict[str, Any]]:
        return self._call(lambda: self._query(CHANGE_TABLE, query), "read changes")

    def approvals(
        self, sys_ids: list[str], *, table: str = APPROVAL_TABLE
    ) -> dict[str, list[dict[str, Any]]]:
        """Approval rows (sysapproval_approver) for these changes, grouped by change sys_id."""
        out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in sys_ids}
        if sys_ids:
            for row in self._call(lambda: self._approval_rows(sys_ids, table), "read approvals"):
                out.setdefault(_value(row.get("sysapproval")), []).append(row)
        return out

    def _approval_rows(self, sys_ids: list[str], table: str) -> list[dict[str, Any]]:
        gr = self.client.GlideRecord(table, batch_size=500)
        gr.add_encoded_query(f"sysapprovalIN{','.join(sys_ids)}")
        gr.order_by("sys_created_on")
        gr.query()
        return [record.serialize(display_value="both") for record in gr]

    def get_change(self, sys_id: str) -> dict[str, Any] | None:
        """One change_request row by sys_id, in the shape `changes()` yields; None if absent."""
        return self._one(f"sys_id={sys_id}", f"read {sys_id}")

    def get_change_by_number(self, number: str) -> dict[str, Any] | None:
        """One change_request row by number (CHG0030001); None if absent."""
        return self._one(f"number={number}", f"read {number}")

    def _one(self, query: str, what: str) -> dict[str, Any] | None:
        rows = self._call(lambda: self._query(CHANGE_TABLE, query, limit=1), what)
        return rows[0] if rows else None

    def fetch(self, key: str, *, approvals_table: str = APPROVAL_TABLE) -> RawTicket:
        """One change re-read by number (or sys_id) with its approvals, for the webhook drain."""
        row = self.get_change_by_number(key) or (self.get_change(key) if len(key) == 32 else None)
        if row is None:
            raise TicketDeleted(f"{self.name}: {key}: no such change_request", key=key)
        sys_id = _value(row.get("sys_id"))
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

        Returns the sys_journal_field sys_id of the entry. Never writes twice: after a failed
        attempt the journal is searched for the marker before writing again.
        """
        element = "comments" if customer_visible else "work_notes"
        body = {element: f"{text.rstrip()}\n\n{marker_tag(marker)}"}

        def write() -> str:
            self._patch(sys_id, body)
            found = self._find_note_once(sys_id, marker)
            if found is None:
                raise PermanentError(
                    f"{self.name}: {sys_id}: the {element} entry was written but is not in "
                    f"{JOURNAL_TABLE} (is the journal readable by this user?)"
                )
            return found

        return self._call(
            write,
            f"add {element} to {sys_id}",
            idempotent=False,
            already_done=lambda: self._find_note_once(sys_id, marker),
        )

    def find_work_note(self, sys_id: str, marker: str) -> str | None:
        """The sys_journal_field sys_id of the note on `sys_id` tagged with `marker`, if any."""
        return self._call(lambda: self._find_note_once(sys_id, marker), f"read journal {sys_id}")

    def _find_note_once(self, sys_id: str, marker: str) -> str | None:
        query = (
            f"element_id={sys_id}^elementINwork_notes,comments^valueLIKE{marker_tag(marker)}"
            "^ORDERBYsys_created_on"
        )
        rows = self._query(JOURNAL_TABLE, query, limit=1)
        return _value(rows[0]["sys_id"]) if rows else None

    def set_state(self, sys_id: str, *, state: str, fields: dict[str, Any] | None = None) -> bool:
        """Set `state` (and `fields`); False, writing nothing, when already in that state."""
        row = self.get_change(sys_id)
        if row is None:
            raise PermanentError(f"{self.name}: {sys_id}: no such change_request")
        if _value(row.get("state")) == str(state):
            return False
        body = {**(fields or {}), "state": str(state)}
        self._call(lambda: self._patch(sys_id, body), f"set state of {sys_id}")
        return True

    def update_fields(self, sys_id: str, values: dict[str, Any]) -> bool:
        """PATCH the columns in `values` that differ from the record; False when none differ."""
        row = self.get_change(sys_id)
        if row is None:
            raise PermanentError(f"{self.name}: {sys_id}: no such change_request")
        changed = {k: v for k, v in values.items() if _value(row.get(k)) != _text(v)}
        if not changed:
            return False
        self._call(lambda: self._patch(sys_id, changed), f"update {sys_id}")
        return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value(cell: Any) -> str:
    return str(cell.get("value", "")) if isinstance(cell, dict) else str(cell or "")


def _table_of(url: str | None) -> str:
    match = re.search(r"/api/now/(?:v\d+/)?table/([^/?]+)", url or "")
    return match.group(1) if match else "request"


def _error_detail(response: requests.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    return str(error.get("message") or "") if isinstance(error, dict) else str(error)


def _sn_detail(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    if isinstance(arg, dict):
        error = arg.get("error", arg)
        return http.one_line(str(error.get("message", error) if isinstance(error, dict) else error))
    return http.one_line(str(arg))

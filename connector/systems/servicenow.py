"""ServiceNow adapter on `pysnc`: read change_request records with their approvals.

Records are read sorted on (sys_updated_on, sys_id) with `sysparm_display_value=all`, so the
mapping sees both the stored value and what people see. pysnc's own urllib3 retries are off
(`auto_retry=False`) and a default timeout is mounted on its session, since pysnc sets none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from pysnc import ServiceNowClient
from pysnc.exceptions import AuthenticationException, RequestException
from requests.adapters import HTTPAdapter

from connector.errors import ConfigError, PermanentError, TransientError
from connector.model import SystemKind
from connector.settings import SourceSettings

CHANGE_TABLE = "change_request"
APPROVAL_TABLE = "sysapproval_approver"


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
        )


class ServiceNowAdapter:
    kind = SystemKind.SERVICENOW

    def __init__(self, name: str, settings: SourceSettings) -> None:
        self.name = name
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self.client = ServiceNowClient(
            self.base_url,
            (settings.username, settings.token.get_secret_value()),
            verify=settings.verify,
            auto_retry=False,
        )
        self.client.session.mount(
            "https://", _PinnedAdapter(timeout=settings.timeout_seconds, verify=settings.verify)
        )
        # pysnc folds every status into one exception type; decide retryability here, where
        # the status and Retry-After are still known.
        self.client.session.hooks["response"].append(self._raise_transient)

    def _raise_transient(self, response: requests.Response, **_: Any) -> None:
        if response.status_code in _RETRYABLE:
            raise TransientError(
                f"{self.name}: ServiceNow answered {response.status_code}",
                retry_after=_seconds(response.headers.get("Retry-After")),
            )

    def close(self) -> None:
        """Close the HTTP session (its keep-alive connections)."""
        self.client.session.close()

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
            same_second = self._drain_second(base, updated, sys_id)
            yield from same_second
            page = self._page(f"{base}sys_updated_on>{updated}^ORDERBYsys_updated_on^ORDERBYsys_id")

    def _drain_second(self, base: str, updated: str, after_id: str) -> Iterator[dict[str, Any]]:
        while rows := self._page(f"{base}sys_updated_on={updated}^sys_id>{after_id}^ORDERBYsys_id"):
            yield from rows
            after_id = _value(rows[-1]["sys_id"])

    def _page(self, query: str) -> list[dict[str, Any]]:
        gr = self.client.GlideRecord(CHANGE_TABLE, batch_size=self.settings.page_size)
        gr.limit = self.settings.page_size
        gr.add_encoded_query(query)
        with translate_errors(self.name):
            gr.query()
            return [record.serialize(display_value="both") for record in gr]

    def approvals(
        self, sys_ids: list[str], *, table: str = APPROVAL_TABLE
    ) -> dict[str, list[dict[str, Any]]]:
        """Approval rows (sysapproval_approver) for these changes, grouped by change sys_id."""
        out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in sys_ids}
        if not sys_ids:
            return out
        gr = self.client.GlideRecord(table, batch_size=500)
        gr.add_encoded_query(f"sysapprovalIN{','.join(sys_ids)}")
        gr.order_by("sys_created_on")
        with translate_errors(self.name):
            gr.query()
            for record in gr:
                row = record.serialize(display_value="both")
                out.setdefault(_value(row.get("sysapproval")), []).append(row)
        return out

    def columns(self) -> set[str]:
        """The columns of change_request, read off one record (the Table API returns all)."""
        gr = self.client.GlideRecord(CHANGE_TABLE, batch_size=1)
        gr.limit = 1
        with translate_errors(self.name):
            gr.query()
            for record in gr:
                return set(record.serialize().keys())
        return set()


_RETRYABLE = {429, 502, 503, 504}


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _value(cell: Any) -> str:
    return str(cell.get("value", "")) if isinstance(cell, dict) else str(cell or "")


class translate_errors:
    """Turn pysnc / requests exceptions into errors named by what the caller does next."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, AuthenticationException):
            raise ConfigError(f"{self.source}: ServiceNow refused the credentials") from None
        if isinstance(exc, RequestException):
            # Retryable statuses were raised by the response hook; what is left is permanent.
            raise PermanentError(f"{self.source}: ServiceNow refused: {str(exc)[:200]}") from None
        if isinstance(exc, requests.RequestException):
            raise TransientError(
                f"{self.source}: cannot reach ServiceNow: {type(exc).__name__}"
            ) from None

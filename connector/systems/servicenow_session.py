"""The HTTP session under pysnc, made to follow the configuration, and its errors described.

The adapter (servicenow.py) mounts `PinnedAdapter` on pysnc's session (pysnc sets no timeout
and no CA bundle per request) and names a refused request by its table and ServiceNow's own
message (`table_of`, `sn_detail`) when it raises the connector's errors.
"""

from __future__ import annotations

import re

import requests
from requests.adapters import HTTPAdapter

from connector.systems import http


class PinnedAdapter(HTTPAdapter):
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


def table_of(url: str | None) -> str:
    match = re.search(r"/api/now/(?:v\d+/)?table/([^/?]+)", url or "")
    return match.group(1) if match else "request"


def sn_detail(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    if isinstance(arg, dict):
        error = arg.get("error", arg)
        return http.one_line(str(error.get("message", error) if isinstance(error, dict) else error))
    return http.one_line(str(arg))

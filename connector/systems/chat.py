"""The chat client: POST a planned notification body to a `[[notify]]` channel's webhook.

One client serves every channel of the worker (the rate limit is per channel, whichever source
the event came from). Each post waits for its channel's rate (Teams Workflows: 4 requests per
second; Slack: 1 message per second), then runs under the connector's one retry policy
(systems/http.py) as a non-idempotent write: it is retried only when the answer proves nothing
was posted (429, honouring Retry-After; a connection that was never made). An answer lost
after sending (timeout, 5xx) is "maybe posted" and goes back to the executor, which does not
post it again (at most once). TLS verification stays on; redirects are not followed (they
would send the body elsewhere). The URL is the channel's credential: it never appears in a
message, an error or a log line (only the channel's name does).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

import requests

from connector.core.errors import ConfigError, ConnectorError, PermanentError
from connector.core.notify.settings import NotifyChannel
from connector.systems.http import (
    RemoteTransientError,
    RetryPolicy,
    call,
    error_for_status,
    parse_retry_after,
)

SYSTEMS = {"slack": "Slack", "teams": "Teams", "webhook": "the webhook receiver"}
DELIVERY_HEADER = "X-Change-Connector-Delivery"
DEFAULT_POLICY = RetryPolicy(attempts=4, max_total_wait_seconds=60.0)


@dataclass
class RateLimit:
    """At most `per_second` calls per second: each call waits for its slot (thread-safe)."""

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            # A little under the rate: the receiver counts arrivals, which jitter.
            self._next = slot + 1.05 / self.per_second
        if slot > now:
            self.sleep(slot - now)


@dataclass
class ChatClient:
    channels: Sequence[NotifyChannel]
    policy: RetryPolicy = DEFAULT_POLICY
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    # Told (channel kind, outcome) after each post: posted, refused (nothing posted), uncertain.
    observe: Callable[[str, str], None] = lambda kind, outcome: None
    _limits: dict[str, RateLimit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {c.name: c for c in self.channels}
        for c in self.channels:
            self._limits[c.name] = RateLimit(c.rate, sleep=self.sleep)

    def close(self) -> None:
        self.session.close()

    def post(
        self,
        name: str,
        body: str,
        *,
        delivery: str,
        mark: Callable[[bool], None] = lambda sending: None,
    ) -> str:
        """POST `body` to channel `name`; a short reference of the answer ("200 ok").

        `mark(True)` runs right before each request goes out (after the rate-limit wait),
        `mark(False)` when its answer proves nothing was posted (before any retry wait)."""
        channel = self._by_name.get(name)
        if channel is None:
            raise PermanentError(f"notify.{name}: no such channel in the config (any more)")
        data = body.encode()
        headers = {"Content-Type": "application/json; charset=utf-8", DELIVERY_HEADER: delivery}
        if channel.secret is not None:
            key = channel.secret.get_secret_value().encode()
            digest = hmac.new(key, data, hashlib.sha256).hexdigest()
            headers[channel.signature_header] = f"sha256={digest}"
        system = SYSTEMS[channel.kind]
        url = channel.url.get_secret_value()

        def once() -> str:
            self._limits[name].wait()
            mark(True)
            try:
                response = self.session.post(
                    url,
                    data=data,
                    headers=headers,
                    timeout=(min(5.0, channel.timeout_seconds), channel.timeout_seconds),
                    verify=channel.verify,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                mapped = _transport(exc, where=f"notify.{name}", system=system)
                if not getattr(mapped, "maybe_applied", False):
                    mark(False)
                raise mapped from None
            try:
                text = masked(response.text[:200], url)
                if 200 <= response.status_code < 300:
                    return f"{response.status_code} {text.strip()}".strip()
                error = _refused(response.status_code, text, channel, system, response)
                if not getattr(error, "maybe_applied", False):
                    mark(False)
                raise error
            finally:
                response.close()

        try:
            ref = call(
                once,
                source=f"notify.{name}",
                what="post",
                system=system,
                idempotent=False,
                policy=self.policy,
            )
        except ConnectorError as exc:
            maybe = getattr(exc, "maybe_applied", False)
            self.observe(channel.kind, "uncertain" if maybe else "refused")
            raise
        self.observe(channel.kind, "posted")
        return ref


def masked(text: str, url: str) -> str:
    """`text` without the URL or its credential parts: the path (Slack), the query and each
    query value (Teams' `sig`), raw and percent-encoded, longest first."""
    parts = urlsplit(url)
    pieces = {url, parts.query} | {v for _, v in parse_qsl(parts.query) if len(v) >= 6}
    if len(parts.path) > 1:
        pieces.add(parts.path)
    pieces |= {quote(p, safe="") for p in pieces}
    for piece in sorted((p for p in pieces if p), key=len, reverse=True):
        text = text.replace(piece, "********")
    return text


def _refused(
    status: int, text: str, channel: NotifyChannel, system: str, response: requests.Response
) -> ConnectorError:
    where = f"notify.{channel.name}"
    if status in (401, 403, 404, 410):
        # The URL is wrong, revoked, or the channel is gone (Slack: no_service, channel_not_found,
        # channel_is_archived): a person must fix the config; nothing was posted.
        return ConfigError(f"{where}: post: {system} answered {status}: {text.strip()}")
    if 300 <= status < 400:
        return PermanentError(
            f"{where}: post: {system} answered {status} (a redirect; not followed)"
        )
    return error_for_status(
        status,
        source=where,
        what="post",
        system=system,
        detail=text,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _transport(exc: requests.RequestException, *, where: str, system: str) -> ConnectorError:
    """Transport errors, without the URL: a certificate that does not verify is for the config;
    a connection never made (refused, DNS, connect timeout) proves nothing was posted; anything
    else (a timeout or a cut after sending) may have posted it."""
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return PermanentError(
            f"{where}: post: the TLS certificate of {system} is not trusted ({kind}); set "
            "ca_bundle on the channel (verification is never switched off)"
        )
    never_connected = isinstance(exc, requests.exceptions.ConnectTimeout) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and "NewConnectionError" in repr(exc.args)
    )
    return RemoteTransientError(
        f"{where}: post: cannot reach {system} ({kind})", maybe_applied=not never_connected
    )

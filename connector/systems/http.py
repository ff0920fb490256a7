"""The one retry policy of the connector: HTTP status -> error, and bounded, jittered retries.

Every adapter call to Jira or ServiceNow runs through `call()`. The status table decides what a
failure means for the caller (see connector/core/errors.py):

    429, 502, 503, 504, other 5xx, connection errors, timeouts  -> TransientError: retried
    401, 403                                                     -> ConfigError: fix credentials
    TLS certificate verification failed                         -> CertificateNotTrusted (never
                                                                   retried: set `ca_bundle`)
    400, 404, 409, 422, other 4xx                                -> PermanentError: skip, record

Retries use exponential backoff with full jitter, never waiting less than the server's
`Retry-After` (seconds or an HTTP-date), a bounded number of attempts and a bounded total wait;
when the budget is spent the last TransientError (with its retry_after) goes to the caller.

A non-idempotent create (POST comment, PATCH work note) may have landed even though its answer
was lost; with `already_done`, every attempt after the first asks the ticket first (by its
marker) and returns what it finds instead of writing again. Without `already_done`, such a
write is retried only when the failure proves it was not applied (429, connect timeout).
The client libraries' own retries stay off; this module is the only retry owner.

A write runs under its ledger claim's lease: inside `calls_until(deadline)`, no request (nor
retry) goes out once the deadline has passed, after any rate-limit wait (LeaseExpired instead),
so a worker that outlived its lease cannot write over its successor (connector/store/ledger.py,
"The fence").

Each adapter's calls also share one `SourceLimiter` (systems/ratelimit.py), whatever thread
makes them: a Retry-After or the rate-limit headers on any answer pause every call of that
source, so writes running side by side slow down together.
"""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import orjson
import requests
from loguru import logger
from tenacity import RetryCallState, Retrying, retry_if_exception

from connector.core.errors import (
    ConfigError,
    ConnectorError,
    LeaseExpired,
    NotFoundError,
    PermanentError,
    TransientError,
)
from connector.settings import SourceSettings
from connector.systems.ratelimit import SourceLimiter

T = TypeVar("T")


def decode_json(content: bytes) -> Any:
    """A response body's JSON. orjson reads a search page several times faster than the json
    module; what it refuses (NaN, integers past 64 bits, lone surrogates) the json module
    reads as before, or fails on as before."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
CONFIG_STATUSES = frozenset({401, 403})
PERMANENT_STATUSES = frozenset({400, 404, 409, 422})
# Statuses after which the request certainly did not take effect.
_NOT_APPLIED_STATUSES = frozenset({429})


# The lease deadline of the write the current thread runs (None: no claim), and its clock.
_deadline: ContextVar[tuple[datetime, Callable[[], datetime]] | None] = ContextVar(
    "calls_until", default=None
)


@contextmanager
def calls_until(deadline: datetime, *, clock: Callable[[], datetime]) -> Iterator[None]:
    """Within the block, the current thread's calls go out only while `clock()` is before
    `deadline` (the claim's lease end); a call due later raises LeaseExpired unsent."""
    token = _deadline.set((deadline, clock))
    try:
        yield
    finally:
        _deadline.reset(token)


def _check_deadline(source: str, what: str) -> None:
    held = _deadline.get()
    if held is not None and held[1]() >= held[0]:
        raise LeaseExpired(f"{source}: {what}: the claim's lease ran out first; not sent")


class CertificateNotTrusted(PermanentError):
    """The site's certificate did not verify: retrying cannot help, the config must change."""

    exit_code = 2


class RemoteTransientError(TransientError):
    """A TransientError that knows its HTTP status and whether the write may have landed."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        maybe_applied: bool = True,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status
        self.maybe_applied = maybe_applied


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: attempts, backoff shape and the wait budget; `sleep` is injectable."""

    attempts: int = 6
    base_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_total_wait_seconds: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter on an exponential ceiling, but never less than Retry-After."""
        ceiling = min(self.max_backoff_seconds, self.base_seconds * 2 ** (attempt - 1))
        return max(self.rng.uniform(0, ceiling), retry_after or 0.0)


DEFAULT_POLICY = RetryPolicy()


def policy_for(settings: SourceSettings) -> RetryPolicy:
    """The policy a source's settings ask for (attempts, first backoff step, total wait)."""
    return RetryPolicy(
        attempts=settings.max_attempts,
        base_seconds=settings.retry_base_seconds,
        max_total_wait_seconds=settings.max_retry_wait_seconds,
    )


def error_for_status(
    status: int | None,
    *,
    source: str,
    what: str,
    system: str,
    detail: str = "",
    retry_after: float | None = None,
) -> ConnectorError:
    """The error a failed HTTP answer means, with a one-line message naming the source."""
    said = f"{system} answered {status}" if status else f"{system} gave no answer"
    tail = f": {one_line(detail)}" if detail.strip() else ""
    if status in CONFIG_STATUSES:
        return ConfigError(
            f"{source}: {what}: {system} refused the credentials ({status}); "
            "check the username, token and the account's permissions"
        )
    if status is None or status in TRANSIENT_STATUSES or status >= 500:
        return RemoteTransientError(
            f"{source}: {what}: {said}{tail}",
            retry_after=retry_after,
            status=status,
            maybe_applied=status not in _NOT_APPLIED_STATUSES,
        )
    if status == 404:
        return NotFoundError(f"{source}: {what}: {said}{tail}")
    return PermanentError(f"{source}: {what}: {said}{tail}")


def transport_error(exc: BaseException, *, source: str, what: str, system: str) -> ConnectorError:
    """A connection error or timeout: retryable; only a connect timeout proves nothing was sent.
    A certificate that does not verify is permanent and says which setting to fix."""
    if isinstance(exc, requests.exceptions.SSLError) and _verification_failed(exc):
        return CertificateNotTrusted(
            f"{source}: {what}: the TLS certificate of {system} is not trusted; set "
            f"sources.{source}.ca_bundle to a PEM bundle with the CA that issued it "
            "(verification is never switched off)"
        )
    return RemoteTransientError(
        f"{source}: {what}: cannot reach {system} ({type(exc).__name__})",
        maybe_applied=not isinstance(exc, requests.exceptions.ConnectTimeout),
    )


def _verification_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):  # requests -> urllib3 -> ssl: the cause sits a few levels down
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen) or "certificate verify failed" in str(seen):
            return True
        seen = (
            seen.__cause__
            or seen.__context__
            or next((a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)), None)
        )
    return False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: a number of seconds, or an HTTP-date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


Translate = Callable[[BaseException, str], BaseException | None]


def call(
    fn: Callable[[], T],
    *,
    source: str,
    what: str,
    system: str = "the server",
    idempotent: bool = True,
    already_done: Callable[[], T | None] | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
    translate: Translate | None = None,
    limiter: SourceLimiter | None = None,
) -> T:
    """Run `fn` under the retry policy; library errors become connector errors via `translate`.
    With `limiter` (the source's), the call waits out the source's pause before it goes out,
    no retry comes sooner than that pause's end, and a Retry-After refused pauses the source."""
    state = _Attempts(source, what, system, translate, limiter)
    if limiter is not None:
        limiter.wait(policy.sleep)
    retrying = Retrying(
        retry=retry_if_exception(_retryable(idempotent=idempotent or already_done is not None)),
        stop=_stop(policy),
        wait=_wait(policy, limiter),
        sleep=policy.sleep,
        before_sleep=_log_retry(source, what, policy),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if already_done is not None and attempt.retry_state.attempt_number > 1:
                found = state.run(already_done)
                if found is not None:
                    logger.info("{}: {}: already applied by an earlier attempt", source, what)
                    return found
            return state.run(fn)
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


@dataclass
class _Attempts:
    source: str
    what: str
    system: str
    translate: Translate | None
    limiter: SourceLimiter | None = None

    def run(self, fn: Callable[[], T]) -> T:
        _check_deadline(self.source, self.what)  # after any wait: the request goes out now
        try:
            return fn()
        except TransientError as exc:
            self._pause(exc)
            raise
        except ConnectorError:
            raise
        except Exception as exc:
            mapped = self.translate(exc, self.what) if self.translate is not None else None
            if mapped is None and isinstance(exc, requests.RequestException):
                mapped = transport_error(
                    exc, source=self.source, what=self.what, system=self.system
                )
            if mapped is None:
                raise
            if isinstance(mapped, TransientError):
                self._pause(mapped)
            raise mapped from None

    def _pause(self, exc: TransientError) -> None:
        """A refusal with Retry-After pauses the whole source, not only this call's retry."""
        if self.limiter is not None:
            self.limiter.pause(exc.retry_after, why=f"{self.what}: told to retry later")


def _retryable(*, idempotent: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if not isinstance(exc, TransientError) or isinstance(exc, LeaseExpired):
            return False
        return idempotent or not getattr(exc, "maybe_applied", True)

    return check


def _wait(policy: RetryPolicy, limiter: SourceLimiter | None) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        backoff = policy.backoff(state.attempt_number, retry_after)
        if limiter is None:
            return backoff
        # the source may have been paused meanwhile by another thread's refusal
        seconds = max(backoff, limiter.remaining())
        if getattr(exc, "status", None) == 429:  # rate limited without a Retry-After too:
            limiter.pause(seconds, why="rate limited")  # the others back off with this one
        limiter.sleeping(seconds)
        return seconds

    return wait


def _stop(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        return state.idle_for + (state.upcoming_sleep or 0.0) > policy.max_total_wait_seconds

    return stop


def _log_retry(source: str, what: str, policy: RetryPolicy) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.warning(
            "{}; retry {}/{} in {:.2f}s",
            exc or f"{source}: {what}",
            state.attempt_number,
            policy.attempts - 1,
            state.upcoming_sleep,
        )

    return log


class PolicyClient:
    """Base of the adapters: every call runs under the policy, and no response is left open.

    A connection cut mid-body leaves its response (and socket) referenced only by the failed
    attempt's traceback; the responses each call received are closed when the call ends (each
    thread's own: an adapter is called from several threads at once). Every answer is shown to
    the source's limiter, which pauses all of the source's calls when it asks for a pause.
    """

    system = "the server"
    name: str
    policy: RetryPolicy
    #: Set by a client shared between threads whose calls must run one at a time.
    _serial: threading.RLock | None = None

    @property
    def limiter(self) -> SourceLimiter:
        """This source's one limiter, shared by every thread calling the adapter."""
        found = self.__dict__.get("_limiter")
        if found is None:
            made = SourceLimiter(self.name, max_pause=self.policy.max_total_wait_seconds)
            found = self.__dict__.setdefault("_limiter", made)  # atomic: one wins
        assert isinstance(found, SourceLimiter)
        return found

    def _track_responses(self, session: requests.Session) -> None:
        self._tracked = threading.local()
        session.hooks["response"].insert(0, self._remember)

    @property
    def _responses(self) -> list[requests.Response]:
        """The responses the current thread's call received so far."""
        tracked = self.__dict__.get("_tracked")
        if tracked is None:
            return []
        if not hasattr(tracked, "responses"):
            tracked.responses = []
        responses: list[requests.Response] = tracked.responses
        return responses

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._responses.append(response)
        now = self.policy.clock()
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
        self.limiter.observe(
            response.status_code, response.headers, retry_after=retry_after, now=now
        )

    def _translate(self, exc: BaseException, what: str) -> BaseException | None:
        return None

    def _call(
        self,
        fn: Callable[[], T],
        what: str,
        *,
        idempotent: bool = True,
        already_done: Callable[[], T | None] | None = None,
    ) -> T:
        with self._serial or nullcontext():
            try:
                return call(
                    fn,
                    source=self.name,
                    what=what,
                    system=self.system,
                    idempotent=idempotent,
                    already_done=already_done,
                    policy=self.policy,
                    translate=self._translate,
                    limiter=self.limiter,
                )
            finally:
                responses = self._responses
                for response in responses:
                    response.close()
                responses.clear()

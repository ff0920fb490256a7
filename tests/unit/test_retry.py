"""The one retry policy (systems/http.py): status table, Retry-After, bounds, one-time writes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from loguru import logger

from connector.core.errors import (
    ConfigError,
    ConnectorError,
    LeaseExpired,
    NotFoundError,
    PermanentError,
    TransientError,
)
from connector.systems import http

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps: Sleeps, *, attempts: int = 6, max_total_wait: float = 120) -> http.RetryPolicy:
    return http.RetryPolicy(
        attempts=attempts,
        max_total_wait_seconds=max_total_wait,
        sleep=sleeps,
        rng=random.Random(1),
        clock=lambda: NOW,
    )


def fail_then(errors: list[Exception], result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, fn


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, TransientError),
        (502, TransientError),
        (503, TransientError),
        (504, TransientError),
        (500, TransientError),
        (None, TransientError),
        (400, PermanentError),
        (404, NotFoundError),
        (409, PermanentError),
        (422, PermanentError),
        (401, ConfigError),
        (403, ConfigError),
    ],
)
def test_status_table(status: int | None, kind: type[ConnectorError]) -> None:
    err = http.error_for_status(status, source="acme", what="read X-1", system="Jira", detail="x")
    assert type(err) is kind or (kind is TransientError and isinstance(err, TransientError))
    assert str(err).startswith("acme: read X-1: ")
    assert "\n" not in str(err)


def test_only_429_proves_a_write_was_not_applied() -> None:
    def maybe(status: int) -> bool:
        err = http.error_for_status(status, source="s", what="w", system="Jira")
        assert isinstance(err, http.RemoteTransientError)
        return err.maybe_applied

    assert not maybe(429)
    assert maybe(502) and maybe(503) and maybe(504)


def test_retry_after_seconds_and_http_date() -> None:
    assert http.parse_retry_after("7", now=NOW) == 7.0
    assert http.parse_retry_after(" 0.25 ", now=NOW) == 0.25
    date = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert http.parse_retry_after(date, now=NOW) == pytest.approx(30.0)
    past = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert http.parse_retry_after(past, now=NOW) == 0.0
    assert http.parse_retry_after("soon", now=NOW) is None
    assert http.parse_retry_after(None) is None


def test_retry_after_is_a_minimum_and_backoff_is_jittered() -> None:
    sleeps = Sleeps()
    errors: list[Exception] = [
        TransientError("busy", retry_after=7.0),
        TransientError("busy"),
        TransientError("busy", retry_after=0.01),
    ]
    calls, fn = fail_then(errors)
    assert http.call(fn, source="s", what="w", policy=policy(sleeps)) == "ok"
    assert len(calls) == 4
    assert sleeps[0] == 7.0
    assert 0 <= sleeps[1] <= 1.0  # full jitter under base * 2
    assert 0.01 <= sleeps[2] <= 2.0


def test_attempts_are_bounded() -> None:
    sleeps = Sleeps()
    calls, fn = fail_then([TransientError("down")] * 20)
    with pytest.raises(TransientError, match="down"):
        http.call(fn, source="s", what="w", policy=policy(sleeps, attempts=4))
    assert len(calls) == 4
    assert len(sleeps) == 3


def test_total_wait_is_bounded_and_retry_after_reaches_the_caller() -> None:
    sleeps = Sleeps()
    calls, fn = fail_then([TransientError("slow down", retry_after=600.0)] * 3)
    with pytest.raises(TransientError) as info:
        http.call(fn, source="s", what="w", policy=policy(sleeps, max_total_wait=60))
    assert len(calls) == 1 and sleeps == []
    assert info.value.retry_after == 600.0


def test_permanent_and_config_errors_are_not_retried() -> None:
    for error in (PermanentError("gone"), ConfigError("bad token")):
        sleeps = Sleeps()
        calls, fn = fail_then([error])
        with pytest.raises(type(error)):
            http.call(fn, source="s", what="w", policy=policy(sleeps))
        assert len(calls) == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError("reset"),
        requests.exceptions.ChunkedEncodingError("broken"),
        requests.exceptions.ReadTimeout("slow"),
        requests.exceptions.ConnectTimeout("no route"),
    ],
)
def test_transport_errors_are_transient(exc: Exception) -> None:
    sleeps = Sleeps()
    calls, fn = fail_then([exc])
    assert http.call(fn, source="s", what="w", system="Jira", policy=policy(sleeps)) == "ok"
    assert len(calls) == 2


def test_translate_maps_library_errors() -> None:
    class LibError(Exception):
        pass

    _, fn = fail_then([LibError()])

    def translate(exc: BaseException, what: str) -> BaseException | None:
        return PermanentError(f"s: {what}: refused") if isinstance(exc, LibError) else None

    with pytest.raises(PermanentError, match="s: w: refused"):
        http.call(fn, source="s", what="w", translate=translate, policy=policy(Sleeps()))


def test_non_idempotent_write_is_not_blindly_retried() -> None:
    sleeps = Sleeps()
    maybe_applied = http.error_for_status(503, source="s", what="w", system="Jira")
    calls, fn = fail_then([maybe_applied])
    with pytest.raises(TransientError):
        http.call(fn, source="s", what="w", idempotent=False, policy=policy(sleeps))
    assert len(calls) == 1
    # A 429 proves nothing was written: safe to retry even without a way to check.
    not_applied = http.error_for_status(429, source="s", what="w", system="Jira")
    calls, fn = fail_then([not_applied])
    assert http.call(fn, source="s", what="w", idempotent=False, policy=policy(sleeps)) == "ok"
    assert len(calls) == 2


def test_already_done_is_asked_before_each_retry_of_a_create() -> None:
    applied: list[str] = []

    def create() -> str:
        applied.append("c1")
        raise requests.exceptions.ChunkedEncodingError("answer lost")  # applied, answer lost

    def already_done() -> str | None:
        return applied[0] if applied else None

    result = http.call(
        create,
        source="s",
        what="comment",
        idempotent=False,
        already_done=already_done,
        policy=policy(Sleeps()),
    )
    assert result == "c1"
    assert applied == ["c1"]


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}", level="DEBUG")
    yield lines
    logger.remove(sink)


def test_each_retry_is_logged(log_lines: list[str]) -> None:
    _, fn = fail_then([TransientError("acme: read X-1: Jira answered 503")])
    http.call(fn, source="acme", what="read X-1", policy=policy(Sleeps()))
    assert len(log_lines) == 1
    assert "acme: read X-1: Jira answered 503; retry 1/5 in" in log_lines[0]


def test_no_request_goes_out_once_the_claims_lease_has_run_out() -> None:
    """Inside `calls_until`, a call (or a retry after a wait) due at or after the deadline
    raises LeaseExpired without running, and is not retried; outside, calls go out as ever."""
    sleeps = Sleeps()
    now = [NOW]
    deadline = NOW + timedelta(seconds=10)

    def clock() -> datetime:
        return now[0]

    def slow_503() -> str:
        calls.append(1)
        now[0] += timedelta(seconds=6)  # each attempt takes 6 s: the retry would be late
        raise TransientError("503")

    calls: list[int] = []
    with http.calls_until(deadline, clock=clock):
        with pytest.raises(LeaseExpired):
            http.call(slow_503, source="s", what="w", policy=policy(sleeps))
        assert calls == [1, 1]  # at 0 s and 6 s; the third, at 12 s, was not sent
        assert len(sleeps) == 2  # and LeaseExpired was not retried
        sent, fn = fail_then([])
        with pytest.raises(LeaseExpired):
            http.call(fn, source="s", what="w", policy=policy(sleeps))
        assert sent == []
    sent, fn = fail_then([])
    assert http.call(fn, source="s", what="w", policy=policy(sleeps)) == "ok"
    assert sent == [1]

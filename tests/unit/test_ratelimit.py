"""One limiter per source (systems/ratelimit.py): what pauses it, and every call waiting it out."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from connector.core.errors import TransientError
from connector.systems import http
from connector.systems.ratelimit import SourceLimiter, pause_asked

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize(
    ("status", "headers", "seconds"),
    [
        (429, {"Retry-After": "2"}, 2.0),
        (503, {"Retry-After": "0.5"}, 0.5),
        (200, {"Retry-After": "2"}, None),  # only a refusal's Retry-After asks for a pause
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-03-01T12:01Z"}, 60.0),
        (429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-03-01T12:00:30Z"}, 30.0),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(NOW.timestamp() + 5)}, 5.0),
        (200, {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "2026-03-01T12:01Z"}, None),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-03-01T11:59Z"}, None),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"}, None),
        (200, {}, None),
    ],
)
def test_what_an_answer_asks_for(
    status: int, headers: dict[str, str], seconds: float | None
) -> None:
    retry_after = http.parse_retry_after(headers.get("Retry-After"), now=NOW)
    assert pause_asked(status, headers, retry_after=retry_after, now=NOW) == seconds


def test_a_pause_holds_every_thread_and_the_longest_stays() -> None:
    clock = Clock()
    limiter = SourceLimiter("acme", max_pause=10, clock=clock)
    limiter.pause(2.0)
    limiter.pause(1.0)  # shorter: the longer pause stays
    seen: list[float] = []
    other = threading.Thread(target=lambda: seen.append(limiter.remaining()))
    other.start()
    other.join()
    assert seen == [2.0] and limiter.remaining() == 2.0
    limiter.pause(60.0)  # a pause is never longer than the source's retry budget
    assert limiter.remaining() == 10.0
    clock.now += 10.5
    assert limiter.remaining() == 0.0


def test_a_refused_call_pauses_the_next_call_of_the_source_not_its_own_retry_twice() -> None:
    clock, sleeps = Clock(), Sleeps()
    limiter = SourceLimiter("acme", clock=clock)
    policy = http.RetryPolicy(sleep=sleeps, clock=lambda: NOW)
    answers = [TransientError("429", retry_after=3.0)]

    def refused_once() -> str:
        if answers:
            raise answers.pop()
        return "ok"

    assert http.call(refused_once, source="acme", what="w", policy=policy, limiter=limiter) == "ok"
    assert sleeps == [3.0]  # its own retry waited the Retry-After once, not again for the pause

    # another thread's call, made while the pause lasts, waits it out before it goes out
    clock.now += 1.0
    other_sleeps = Sleeps()
    other_policy = http.RetryPolicy(sleep=other_sleeps, clock=lambda: NOW)
    calls: list[str] = []

    def other() -> None:
        calls.append(
            http.call(lambda: "ok", source="acme", what="w", policy=other_policy, limiter=limiter)
        )

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert calls == ["ok"] and other_sleeps == [2.0]


def test_a_retry_never_comes_before_the_sources_pause_ends() -> None:
    clock, sleeps = Clock(), Sleeps()
    limiter = SourceLimiter("acme", clock=clock)
    policy = http.RetryPolicy(sleep=sleeps, clock=lambda: NOW, base_seconds=0.01)
    answers = [TransientError("503")]

    def failing_once() -> str:
        if answers:
            limiter.pause(5.0)  # meanwhile another thread was told to wait 5 s
            raise answers.pop()
        return "ok"

    assert http.call(failing_once, source="acme", what="w", policy=policy, limiter=limiter) == "ok"
    assert sleeps == [5.0]


def test_an_adapter_has_one_limiter_and_each_answer_is_shown_to_it() -> None:
    class Client(http.PolicyClient):
        name = "acme"
        policy = http.RetryPolicy(clock=lambda: NOW)

    client = Client()
    assert client.limiter is client.limiter
    reset = (NOW + timedelta(seconds=20)).isoformat()
    response = _response(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    client._remember(response)
    assert 19.0 < client.limiter.remaining() <= 20.0


def _response(status: int, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


def test_a_429_without_retry_after_pauses_the_source_for_the_backoff() -> None:
    clock, sleeps = Clock(), Sleeps()
    limiter = SourceLimiter("acme", clock=clock)
    policy = http.RetryPolicy(sleep=sleeps, clock=lambda: NOW, rng=random.Random(3))
    answers = [http.RemoteTransientError("429", status=429, maybe_applied=False)]

    def refused_once() -> str:
        if answers:
            raise answers.pop()
        return "ok"

    http.call(refused_once, source="acme", what="w", policy=policy, limiter=limiter)
    (backoff,) = sleeps
    assert backoff > 0
    seen: list[float] = []  # another thread, right away: it waits as long as the refused call
    other = threading.Thread(target=lambda: seen.append(limiter.remaining()))
    other.start()
    other.join()
    assert seen == [pytest.approx(backoff)]

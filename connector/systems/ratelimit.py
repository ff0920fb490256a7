"""The shared pace of one source: when the server says wait, every thread calling it waits.

Writes to a source run on several threads at once (connector/sync/executor.py), all through the
source's one adapter; each adapter owns one `SourceLimiter` (`PolicyClient.limiter`), so a
source has one pace however many threads call it. A pause starts when any answer asks for one:

- `Retry-After` on a refusal (429, 503): that many seconds, or until that HTTP-date;
- the rate-limit headers on any answer: `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` in
  the future (an ISO 8601 time as Jira sends it, or Unix seconds);
- a 429 without either: as long as the refused call's own backoff before its retry.

Every call of the source, on whatever thread, waits for the pause to end before it goes out
(`systems.http.call`: before its first attempt, and a retry never sooner than the pause's end),
so the other threads slow down with the one that was refused instead of each learning of the
limit from a 429 of its own. A pause is never longer than `max_pause` (the source's total retry
budget): a reset time far ahead is a server's clock or a quota reset, not a reason to stall.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from loguru import logger


class SourceLimiter:
    """One source's pause, shared by every thread: `pause` extends it, `remaining` reads it."""

    def __init__(
        self,
        name: str,
        *,
        max_pause: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_pause = max_pause
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()
        # Per thread: until when it has slept already (a retry's backoff covers the pause its
        # own refusal started; with an injected sleep the clock does not move while it "sleeps").
        self._slept = threading.local()

    def pause(self, seconds: float | None, *, why: str = "rate limited") -> None:
        """Hold every call of this source for `seconds` from now (a longer pause stays)."""
        if seconds is None or seconds <= 0:
            return
        seconds = min(seconds, self.max_pause)
        with self._lock:
            now = self._clock()
            started = self._until <= now
            self._until = max(self._until, now + seconds)
        if started:  # a new pause; short ones are common under load and said by the retry too
            level = "INFO" if seconds >= 1 else "DEBUG"
            logger.log(
                level, "{}: {}: every call of this source waits {:.2f}s", self.name, why, seconds
            )

    def remaining(self) -> float:
        """Seconds until the calling thread may call the source again (0: now)."""
        with self._lock:
            until, now = self._until, self._clock()
        return max(0.0, until - max(now, getattr(self._slept, "until", 0.0)))

    def sleeping(self, seconds: float) -> None:
        """The calling thread is about to sleep `seconds` (a retry's backoff): that much of the
        pause is served."""
        self._slept.until = self._clock() + seconds

    def wait(self, sleep: Callable[[float], None]) -> float:
        """Sleep out the current pause, if any (with `sleep`, the retry policy's); the seconds."""
        left = self.remaining()
        if left > 0:
            self.sleeping(left)
            sleep(left)
        return left

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        retry_after: float | None,
        now: datetime,
    ) -> None:
        """Start a pause if this answer asks for one (`retry_after`: its Retry-After, parsed)."""
        seconds = pause_asked(status, headers, retry_after=retry_after, now=now)
        if seconds:
            self.pause(seconds, why=f"answered {status} with a rate limit")


def pause_asked(
    status: int, headers: Mapping[str, str], *, retry_after: float | None, now: datetime
) -> float | None:
    """The seconds an answer asks the client to hold off, or None: Retry-After on a refusal,
    and the reset time when the rate-limit headers say nothing is left."""
    asked = retry_after if status >= 400 else None
    if (headers.get("X-RateLimit-Remaining") or "").strip() == "0":
        reset = _reset_seconds(headers.get("X-RateLimit-Reset"), now=now)
        if reset is not None:
            asked = max(asked or 0.0, reset)
    return asked or None


def _reset_seconds(value: str | None, *, now: datetime) -> float | None:
    """`X-RateLimit-Reset` as seconds from now: an ISO 8601 time, or Unix seconds."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    # Unix seconds, or (small numbers) seconds from now as some servers send it
    return max(0.0, number - now.timestamp()) if number > 1e9 else max(0.0, number)

"""Wake-ups for the webhook drain: the intake rings once it has committed a delivery.

A delivery should be drained within a second of its arrival, not at the drain timer's next
tick. So the store carries an `InboxBell`:

- In one process (SQLite and PostgreSQL): `inbox_intake` rings the bell after its transaction
  has committed; the worker's loop waits on it (`InboxBell.wait`) with the drain interval as the
  timeout, so the timer stays the safety net.
- Across processes (PostgreSQL only): the intake's transaction also runs `NOTIFY` on a channel
  named after the schema (`channel`), which PostgreSQL delivers only if and when the
  transaction commits. A draining process keeps one connection of its own that `LISTEN`s on it
  (`InboxBell.listen`); its thread rings the local bell per notification. A lost notification
  (the listener reconnecting after an outage) only delays a delivery to the next timer tick,
  and every (re)connect rings once, since deliveries may have come in meanwhile.
- SQLite has no such mechanism: another process finds the rows on its drain timer.

Bursts are coalesced: a wait that was rung keeps waiting while more rings follow each other
within `SETTLE_SECONDS`, but never longer than `MOST_SECONDS` after the first, so many
deliveries arriving together are drained by one claim, and none waits longer than that for it.
The ledger and the inbox leases keep every guarantee: waking only decides *when* a drain runs.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from loguru import logger

#: A burst is over once no ring came for this long ...
SETTLE_SECONDS = 0.02
#: ... or this long after its first ring, whichever comes first.
MOST_SECONDS = 0.1
#: How often the listener thread looks whether it should stop.
LISTEN_POLL_SECONDS = 1.0
#: Reconnect delays of the listener after its connection failed: from the first to the last.
RECONNECT_SECONDS = (0.5, 30.0)


def channel(namespace: str) -> str:
    """The NOTIFY channel of the inbox in schema `namespace`: two schemas never share one
    (an identifier of our own making, so it is safe to put into the statement as it is)."""
    digest = hashlib.sha256(f"change-connector\0{namespace}\0inbox".encode()).hexdigest()
    return f"change_connector_inbox_{digest[:16]}"


class InboxBell:
    """A wake-up flag the intake sets and the drain loop waits on (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rung = False
        self._listener: _Listener | None = None

    def ring(self) -> None:
        """Wake the waiting drain (or the next one to wait)."""
        with self._cond:
            self._rung = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Block until rung or `timeout` seconds passed; True if rung (the ring is consumed).

        After the first ring, waits on while the burst goes on (see the module docstring).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._rung, timeout):
                return False
            self._rung = False
            last = first = time.monotonic()
            while True:
                left = min(last + SETTLE_SECONDS, first + MOST_SECONDS) - time.monotonic()
                if left <= 0 or not self._cond.wait_for(lambda: self._rung, left):
                    return True
                self._rung = False
                last = time.monotonic()

    def listen(self, connect: Callable[[], Any], name: str) -> None:
        """Ring on every NOTIFY on channel `name`, from a thread holding a connection that
        `connect` opens (a psycopg connection, closed by this thread); once per bell."""
        with self._cond:
            if self._listener is None:
                self._listener = _Listener(connect, name, self)
                self._listener.start()

    def close(self) -> None:
        """Stop listening (returns within about `LISTEN_POLL_SECONDS`)."""
        with self._cond:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()


class _Listener(threading.Thread):
    def __init__(self, connect: Callable[[], Any], name: str, bell: InboxBell) -> None:
        super().__init__(name="inbox-listener", daemon=True)
        self._connect = connect
        self._channel = name
        self._bell = bell
        self._stopping = threading.Event()
        self._listening = False  # whether the current connection got as far as LISTEN

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=LISTEN_POLL_SECONDS * 3)

    def run(self) -> None:
        delay = RECONNECT_SECONDS[0]
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as exc:  # any failure of the connection: the timer covers it
                if self._listening or delay == RECONNECT_SECONDS[0]:  # a line per outage
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    logger.warning("inbox wake-ups: listener lost ({}); retrying", reason)
                delay = RECONNECT_SECONDS[0] if self._listening else delay
                self._listening = False
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_SECONDS[1])

    def _listen(self) -> None:
        conn = self._connect()
        try:
            conn.execute(f"LISTEN {self._channel}")
            self._listening = True
            self._bell.ring()  # deliveries may have committed while nobody listened
            while not self._stopping.is_set():
                for _note in conn.notifies(timeout=LISTEN_POLL_SECONDS):
                    self._bell.ring()
        finally:
            conn.close()

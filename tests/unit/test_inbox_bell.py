"""The inbox bell: a ring is consumed by one wait; the listener LISTENs, rings, reconnects."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from connector.store.wakeup import InboxBell, channel

#: Longer than any of these tests runs: a wait that returns True was rung, not timed out.
NEVER = 60.0


def test_channel_is_per_schema_and_a_valid_identifier() -> None:
    names = {channel(""), channel("public"), channel("t_store_a")}
    assert len(names) == 3
    for name in names:
        assert name.isidentifier() and name.islower() and len(name) <= 63
    assert channel("public") == channel("public")


def test_a_ring_wakes_one_wait_and_is_consumed() -> None:
    bell = InboxBell()
    assert bell.wait(0) is False
    bell.ring()
    bell.ring()  # two rings before the wait: one wake-up
    assert bell.wait(NEVER) is True
    assert bell.wait(0) is False


def test_a_ring_from_another_thread_wakes_a_waiting_wait() -> None:
    bell = InboxBell()
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(bell.wait(NEVER)))
    waiter.start()
    bell.ring()
    waiter.join(NEVER)
    assert woken == [True]


class FakeConnection:
    """What the listener uses of a psycopg connection: LISTEN, then notifications."""

    def __init__(self, notes: int, done: threading.Event) -> None:
        self.executed: list[str] = []
        self.notes = notes
        self.done = done
        self.closed = False

    def execute(self, sql: str) -> None:
        self.executed.append(sql)

    def notifies(self, *, timeout: float) -> Iterator[object]:
        while self.notes:
            self.notes -= 1
            yield object()
        self.done.set()
        time.sleep(min(timeout, 0.05))  # psycopg's generator waits when nothing arrives

    def close(self) -> None:
        self.closed = True


def test_the_listener_listens_rings_per_notification_and_reconnects() -> None:
    bell = InboxBell()
    done = threading.Event()
    attempts: list[Any] = []

    def connect() -> FakeConnection:
        if not attempts:
            attempts.append("refused")
            raise OSError("connection refused")  # the first attempt fails: retried
        conn = FakeConnection(2, done)
        attempts.append(conn)
        return conn

    bell.listen(connect, channel("s"))
    assert done.wait(NEVER)
    assert bell.wait(NEVER) is True  # the ring on LISTEN and the two notifications
    bell.close()
    assert attempts[0] == "refused"
    conn = attempts[1]
    assert conn.executed == [f"LISTEN {channel('s')}"]
    assert conn.notes == 0
    assert conn.closed

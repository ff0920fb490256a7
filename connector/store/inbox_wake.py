"""Waiting for webhook deliveries: the drain loop's side of the inbox's wake-ups (wakeup.py).

`inbox_intake` (inbox.py) rings the store's bell once a delivery is committed, and on PostgreSQL
sends a NOTIFY in the same transaction; here the worker waits on the bell (`inbox_wait`) and,
on PostgreSQL, has other processes' NOTIFYs ring it too (`inbox_listen`, one connection of its
own per store, outside the pool).
"""

from __future__ import annotations

from typing import Any

from connector.store.base import StoreBase
from connector.store.wakeup import channel


class InboxWakeMixin(StoreBase):
    def inbox_listen(self) -> None:
        """Also wake `inbox_wait` on deliveries other processes commit (PostgreSQL; on SQLite
        only this process's deliveries wake it). Stopped by `Store.close`."""
        if not self.is_sqlite:
            self._inbox_bell.listen(self._listen_connection, channel(self._namespace))

    def inbox_wait(self, timeout: float) -> bool:
        """Block until a delivery was committed since the last wait (bursts coalesced, see
        wakeup.py) or `timeout` seconds passed; True if one was."""
        return self._inbox_bell.wait(timeout)

    def inbox_wake(self) -> None:
        """Make the current or next `inbox_wait` return True (more is known to be pending)."""
        self._inbox_bell.ring()

    def _listen_connection(self) -> Any:
        """A psycopg connection of its own (out of the pool, same settings), in autocommit."""
        pooled = self._engine.raw_connection()
        conn: Any = pooled.driver_connection
        pooled.detach()  # closed by its listener, never handed back to the pool
        conn.rollback()  # whatever the pool's ping began
        conn.autocommit = True
        return conn

"""The audit chain verified in a child process while the report is built.

Walking the chain is pure interpreter work (a hash per link), and so is reading a report's
100,000 stored answers: in a thread the two only take turns at the interpreter lock (and the
build's reads wait for it after each fetch). A forked child walks the chain on the other core
and sends back the verdict. It forks only where that is safe: on a platform with `fork`, and
when the process runs no other thread (a lock some thread holds at the fork would stay held in
the child). Otherwise, or if the child fails, the chain is verified in a thread as before.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

from connector.reports.context import AuditState
from connector.reports.gather import audit_state
from connector.store import Store


def verify_beside(
    store: Store, anchors: Path | None, pool: ThreadPoolExecutor
) -> Callable[[], AuditState]:
    """Start verifying the chain; the returned call waits for the verdict."""
    if forks():
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_verify, args=(store, anchors, send), daemon=True)
        child.start()
        send.close()

        def verdict() -> AuditState:
            try:
                state = receive.recv()
            except (EOFError, OSError):
                state = None
            finally:
                receive.close()
                child.join()
            return state if isinstance(state, AuditState) else audit_state(store, anchors)

        return verdict
    future = pool.submit(audit_state, store, anchors)
    return future.result


def forks() -> bool:
    """Whether the chain is verified in a child process here (else in a thread)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _verify(store: Store, anchors: Path | None, send: Connection) -> None:
    """In the child: fresh connections (the parent's stay the parent's), then the verdict."""
    try:
        store.forget_connections()
        send.send(audit_state(store, anchors))
    except BaseException:  # the parent verifies in a thread instead
        send.send(None)
    finally:
        send.close()

"""Recording behind: batches are recorded one at a time in the order given, a failed one stops
every later one (its cursor would pass the failed batch's tickets), and a batch reading the
tickets being recorded waits for them."""

from __future__ import annotations

import threading

import pytest

from connector.sync.write_behind import WriteBehind


def test_batches_are_recorded_in_order_on_a_thread_of_their_own() -> None:
    done: list[tuple[int, str]] = []
    behind = WriteBehind()
    for n in range(5):
        behind.submit(lambda n=n: done.append((n, threading.current_thread().name)), keys=[])
    behind.close()
    assert [n for n, _ in done] == [0, 1, 2, 3, 4]
    assert all(name.startswith("record") for _, name in done)


def test_a_failed_batch_is_raised_and_no_later_batch_is_recorded() -> None:
    done: list[int] = []

    def fail() -> None:
        raise RuntimeError("database is locked")

    behind = WriteBehind()
    behind.submit(lambda: done.append(1), keys=["CHG-1"])
    behind.submit(fail, keys=["CHG-2"])
    with pytest.raises(RuntimeError, match="locked"):
        behind.submit(lambda: done.append(3), keys=["CHG-3"])
    behind.close()
    assert done == [1]


def test_a_failure_of_the_last_batch_is_raised_when_the_pass_ends() -> None:
    behind = WriteBehind()
    behind.submit(lambda: 1 / 0, keys=[])  # type: ignore[func-returns-value]
    with pytest.raises(ZeroDivisionError):
        behind.close()


def test_a_batch_on_the_tickets_being_recorded_waits_for_them() -> None:
    release = threading.Event()
    recorded: list[str] = []

    def slow() -> None:
        release.wait(timeout=10)
        recorded.append("CHG-1")

    behind = WriteBehind()
    behind.submit(slow, keys=["CHG-1", "CHG-2"])
    behind.settle_for(["CHG-3"])  # other tickets: no wait
    assert recorded == []
    threading.Timer(0.05, release.set).start()
    behind.settle_for(["CHG-9", "CHG-2"])
    assert recorded == ["CHG-1"]
    behind.close()

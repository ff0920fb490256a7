"""A second process sharing a large pass of evaluations (`Pipeline.parallel`), and a scan's
changes without a window (`Lending`).

A first sync of a large site evaluates most of its changes after its last page (once every
window's partners are read), and a changed policy has every stored change evaluated again:
passes bound by one interpreter's CPU, at a time when the site answers nothing. A second
process, opened on the same store and source, takes some of the pass's chunks of change keys
while the pipeline does the others: it reads their stored rows, evaluates them and records them
in a transaction of its own, as the pipeline would, and sends back what the cycle counts of
them (`Share`). Only keys go there and counts come back, so nothing is parsed or serialized
twice; the chunks are on other changes, and the store serializes the two processes' writes
(the audit chain's lock among them).

Spawned (forking a process that runs threads is unsafe), it takes about half a second to
start, at a lower scheduling priority (`NICE`): it starts while the pipeline still reads pages,
and must not slow down what serves them on the same machine, or any other work there. `sync
--once` starts one ahead (`started_ahead`), beside its own start, when the other core is idle:
the first pass that wants a second process takes it, and a poll cycle then lends it changes from
its first full batch on. Until it has started, and whenever it has `QUEUE` chunks, the pipeline
does the next chunk itself, so neither process waits while the other has work. A chunk it
does not finish (the process lost, or its transaction refused) is done in the pipeline's
process: a chunk is recorded whole or not at all (one recorded there just before the process
was lost is evaluated again, which plans nothing new: the ledger holds its actions). Once a
chunk fails there, no more go there in that pass.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from loguru import logger

from connector.sync.heap import freeze_heap, tune_gc

if TYPE_CHECKING:  # the process starts on this module alone, and imports the rest lowered
    from connector.store import Store, StoreHandle
    from connector.sync.recording import Evaluated

QUEUE = 2  # chunks the second process holds at most: one it evaluates, one next
NICE = 10  # added to the second process's niceness: it takes the CPU nothing else needs


@dataclass(frozen=True)
class Share:
    """What a poll cycle counts of a chunk evaluated and recorded, here or there."""

    keys: tuple[str, ...]  # the chunk (keys not stored are counted, and evaluated as none)
    planned: int  # actions planned
    withheld: Mapping[str, int]  # writes withheld per ticket key (by the source's gate)
    recheck_at: Mapping[str, datetime | None]  # when each verdict may change by itself

    @classmethod
    def of(cls, keys: Sequence[str], evaluated: Sequence[Evaluated]) -> Share:
        return cls(
            keys=tuple(keys),
            planned=sum(len(e.plan.actions) for e in evaluated),
            withheld={e.change.key: len(e.plan.withheld) for e in evaluated},
            recheck_at={e.change.key: e.evaluation.recheck_at for e in evaluated},
        )


class Evaluator(Protocol):
    """A pipeline, as far as the second process uses it (a dataclass, built from its fields)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    store: Store

    def share(self, keys: Sequence[str]) -> Share:
        """Evaluate and record these stored changes in one transaction."""


@dataclass(frozen=True)
class Recipe:
    """A pipeline as the second process builds it again: its class, its store's handle and
    its other settings, without the clock, which each chunk brings. Picklable; the settings
    are not shown (they hold the chat channels' addresses)."""

    build: Callable[..., Evaluator]
    store: StoreHandle
    settings: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, pipeline: Evaluator) -> Recipe:
        skip = {"store", "clock"}
        return cls(
            build=type(pipeline),
            store=pipeline.store.handle(),
            settings={
                f.name: getattr(pipeline, f.name)
                for f in fields(pipeline)
                if f.init and f.name not in skip
            },
        )

    def open(self, clock: Callable[[], datetime]) -> Evaluator:
        return self.build(store=self.store.open(), clock=clock, **self.settings)


# -- in the second process ---------------------------------------------------------------------

_evaluator: Evaluator | None = None
_now: list[datetime] = []  # the clock of the chunk at hand: the pipeline's when it gave it


def _start() -> None:
    """Lower this process's priority and import the pipeline's modules (most of the start,
    before any pass needs the process); it collects as the worker does. It logs nothing (the
    worker says what became of it) and leaves the signals that stop the worker to the worker,
    which stops it in turn; a worker killed outright takes it along (`_orphaned`)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_orphaned, args=(parent.sentinel,), daemon=True).start()
    os.nice(NICE)
    tune_gc()
    logger.remove()
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    importlib.import_module("connector.sync.pipeline")


def _orphaned(parent: int) -> None:
    """Exit once the worker has gone: killed (SIGKILL, the OOM killer), it cannot stop this
    process, which would otherwise wait for chunks forever, holding the worker's output open."""
    wait([parent])
    os._exit(1)


def _open(recipe: bytes) -> bool:
    """Build the evaluator: the first task of a pass."""
    global _evaluator
    _evaluator = pickle.loads(recipe).open(lambda: _now[-1])
    freeze_heap()
    return True


def _share(keys: list[str], now: datetime) -> Share:
    assert _evaluator is not None, "the second process starts with its evaluator"
    _now[:] = [now]
    return _evaluator.share(keys)


# -- in the pipeline's process ------------------------------------------------------------------

_ahead: list[ProcessPoolExecutor] = []  # one started ahead, for the next pass to take


def _spawn() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start
    )


@contextmanager
def started_ahead(*, when: bool = True) -> Iterator[None]:
    """Within this block (when `when`), a second process started now waits for the first pass
    that wants one (`SecondProcess`); one no pass took stops at the block's end."""
    if not when or _ahead:
        yield
        return
    pool = _spawn()
    pool.submit(bool)  # a pool starts its process with the first task
    _ahead.append(pool)
    try:
        yield
    finally:
        if pool in _ahead:
            _ahead.remove(pool)
            pool.shutdown(wait=True, cancel_futures=True)


def waiting() -> bool:
    """Whether a second process started ahead waits for a pass (`started_ahead`)."""
    return bool(_ahead)


class SecondProcess:
    """The second process of one pass (see the module docstring); `take` gives it a chunk."""

    def __init__(self, recipe: Recipe) -> None:
        self._pool = _ahead.pop() if _ahead else _spawn()
        self._started: Future[bool] = self._pool.submit(_open, pickle.dumps(recipe))
        self._lost = False
        self._held: list[Future[Share]] = []  # given, not yet done (or just done)

    @property
    def ready(self) -> bool:
        """Whether it has started and is not lost (one that failed to start never is)."""
        return not self._lost and self._started.done() and self._started.exception() is None

    def take(self, keys: Sequence[str], *, now: datetime) -> Given | None:
        """Give it `keys` to evaluate at `now` and record, if it is ready and holds fewer than
        `QUEUE` chunks; None: the caller does them."""
        self._held = [f for f in self._held if not f.done()]
        if not self.ready or len(self._held) >= QUEUE:
            return None
        try:
            future = self._pool.submit(_share, list(keys), now)
        except RuntimeError as exc:  # the pool broke (BrokenProcessPool is one)
            self.lose(exc)
            return None
        self._held.append(future)
        return Given(self, keys=keys, future=future)

    def lose(self, exc: BaseException) -> None:
        """Give it nothing more in this pass."""
        if not self._lost:
            logger.warning(
                "the second evaluation process stopped ({}); evaluating in the worker",
                type(exc).__name__,
            )
            self._lost = True

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Given:
    """A chunk the second process took; `share` waits for what it counted."""

    to: SecondProcess
    keys: Sequence[str]
    future: Future[Share]

    @property
    def done(self) -> bool:
        return self.future.done()

    def share(self) -> Share | None:
        """What it counted of the chunk, once recorded; None if it did not record it (the
        caller does the chunk)."""
        try:
            return self.future.result()
        except Exception as exc:  # lost, or its transaction refused: the chunk is undone
            self.to.lose(exc)
            return None


class Lending:
    """A scan's changes without a window, given to the second process as their batches are
    recorded (`Pipeline.process`): no later page can give them a partner, so they need not
    wait for the pass after the last page, and that process, idle until then, evaluates them
    while the scan reads on. Each batch's are given once the batch is recorded (the next
    batch's `recorded`); those it does not take stay due, for that pass. A ticket read again
    waits for the chunk that holds it (`settle_for`), so its versions are recorded in order."""

    def __init__(self, second: SecondProcess) -> None:
        self.second = second
        self._next: list[str] = []  # the batch being recorded: given once it is
        self._given: dict[str, Given] = {}
        self._shares: list[Share] = []

    def recorded(self, *, now: datetime, then: Sequence[str]) -> None:
        """The batch before is recorded: give its changes (at `now`); `then`: the next
        batch's, given once that one is."""
        if self._next and (given := self.second.take(self._next, now=now)) is not None:
            self._given.update(dict.fromkeys(given.keys, given))
        self._next = list(then)

    def settle_for(self, keys: Sequence[str]) -> None:
        """Wait for the chunks given that hold any of these changes."""
        for given in {id(g): g for k in keys if (g := self._given.get(k))}.values():
            self._take(given)

    def shares(self, *, wait: bool = False) -> list[Share]:
        """What the chunks done since the last call counted (`wait`: all given, waited for;
        the batch not given yet stays due)."""
        for given in {id(g): g for g in self._given.values()}.values():
            if wait or given.done:
                self._take(given)
        if wait:
            self._next = []
        shares, self._shares = self._shares, []
        return shares

    def _take(self, given: Given) -> None:
        share = given.share()  # None: lost, its changes stay due
        for key in given.keys:
            self._given.pop(key, None)
        if share is not None:
            self._shares.append(share)

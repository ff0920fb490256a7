"""The worker's process settings (`sync/heap.py`): the collector's threshold, start-up's
objects left out of collections, and glibc's malloc arenas."""

from __future__ import annotations

import ctypes
import gc
import platform
import weakref
from collections.abc import Iterator

import pytest

from connector.sync import heap
from connector.sync.heap import (
    GC_YOUNG_THRESHOLD,
    freeze_heap,
    limit_malloc_arenas,
    tune_gc,
)


@pytest.fixture
def gc_threshold() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_worker_collects_its_youngest_objects_less_often(gc_threshold: None) -> None:
    _young, older, oldest = gc.get_threshold()
    tune_gc()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, older, oldest)


def test_what_start_up_built_is_left_out_of_later_collections() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = weakref.ref(Cycle())  # a collection frees it: not something to keep frozen
    built = Cycle()  # alive at start-up
    was_built = weakref.ref(built)
    try:
        freeze_heap()
        assert garbage() is None and gc.get_freeze_count() > 1000
        later = weakref.ref(Cycle())  # made after start-up: collected as before
        del built
        gc.collect()
        assert later() is None
        assert was_built() is not None  # frozen: no collection looks at it again
    finally:
        gc.unfreeze()
    gc.collect()
    assert was_built() is None


def test_malloc_arenas_are_capped_where_the_c_library_is_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")


def test_a_cap_the_environment_sets_is_left_to_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[object] = []
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    monkeypatch.setattr(ctypes, "CDLL", lambda *args: loaded.append(args))
    assert limit_malloc_arenas() is False
    assert loaded == []


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, _name: str | None) -> None:
            pass

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(heap.ctypes, "CDLL", NoMallopt)
    assert limit_malloc_arenas() is False

"""How the worker's processes use the collector and malloc: set once when a command that runs
the worker (or a second process of it) starts, and after start-up (`freeze_heap`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

# A sync allocates a few hundred short-lived objects a ticket (decoded JSON, models, rows), so
# collecting the youngest generation every 700 allocations (the default) took ~8% of a sync's
# CPU, nearly all of it finding nothing to free; every 4,000 it takes ~3%. Rarer still costs
# memory: what cycles leave behind lives longer (10,000: +3 MB of peak RSS at 50,000 tickets;
# 20,000, with batches of 500: a full sync of 100,000 tickets peaked at 1.32x the memory of
# one of 1,000).
GC_YOUNG_THRESHOLD = 4_000


def tune_gc() -> None:
    """Collect less often in the worker's processes (see `GC_YOUNG_THRESHOLD`), and keep the
    writing threads' allocations in few malloc arenas (see `MALLOC_ARENAS`)."""
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    limit_malloc_arenas()


def freeze_heap() -> None:
    """Leave what start-up built (modules, classes, the models' validators, settings, clients:
    most of the heap's objects, alive until the process ends) out of every later collection:
    each full collection traversed all of them, for tickets' objects only. ~7% of a first
    sync's CPU was the collector, more with larger batches alive."""
    gc.collect()
    gc.freeze()


# glibc gives each thread that allocates under contention an arena of its own, up to 8 per core,
# and memory freed in one arena serves only allocations from that arena: the writing threads
# (`write_concurrency`) each kept their own high-water mark of response bodies and rows. Two
# arenas: the GIL already serializes nearly every allocation, so they wait on nothing more.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt(3) parameter


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at `MALLOC_ARENAS`, unless the environment sets the cap
    (`MALLOC_ARENA_MAX`); False where the C library is not glibc (nothing to cap)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):  # no C library by that name, or one without mallopt
        return False
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))

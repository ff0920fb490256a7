"""Memoising what is derived from a frozen configuration object (a policy, a mapping).

Configuration is shared by every ticket a worker handles; what follows from it (sets, zones,
messages, a mapping's per-field readers) is computed once per object, not once per ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def per_object(build: Callable[[K], V]) -> Callable[[K], V]:
    """Memoise `build` per argument object, by identity. Config models are frozen but hold
    dicts, so they cannot be hashed; the cache holds the object itself, so its id is not reused
    while cached."""
    items: dict[int, tuple[K, V]] = {}

    def get(key: K) -> V:
        hit = items.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
        value = build(key)
        if len(items) >= 64:
            items.clear()
        items[id(key)] = (key, value)
        return value

    return get

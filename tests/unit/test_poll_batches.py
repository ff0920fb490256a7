"""A poll cycle's batches: pages normalized as they arrive are joined until a batch holds
`batch_size` tickets, in order, nothing lost or repeated, skipped tickets' lines kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.core.model import Change, Person, Source, SystemKind
from connector.sync.page import Normalized
from connector.sync.poller import _batches

UPDATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def change(n: int) -> Change:
    return Change(
        source=Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        key=f"CHG-{n}",
        native_id=str(10000 + n),
        requester=Person(id="u-alice", name="Alice"),
        created=UPDATED,
        updated=UPDATED,
    )


def page(first: int, count: int, *, skipped: int = 0) -> Normalized:
    changes = [change(n) for n in range(first, first + count - skipped)]
    lines = [f"CHG-{n}: no summary" for n in range(first + count - skipped, first + count)]
    return Normalized(seen=count, changes=changes, skipped=lines)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, [3, 3, 3, 2]),  # a page each
        (3, [3, 3, 3, 2]),
        (4, [6, 5]),  # pages joined until the batch holds 4 or more
        (500, [11]),  # one batch, what there is
    ],
)
def test_pages_are_joined_into_batches_of_at_least_the_batch_size(
    size: int, expected: list[int]
) -> None:
    pages = [page(0, 3), page(3, 3, skipped=1), page(6, 3), page(9, 2)]
    batches = list(_batches(iter(pages), size=size))
    assert [b.seen for b in batches] == expected
    keys = [c.key for b in batches for c in b.changes]
    assert keys == [c.key for p in pages for c in p.changes]  # in order, once each
    assert [line for b in batches for line in b.skipped] == ["CHG-5: no summary"]


def test_no_pages_make_no_batch() -> None:
    assert list(_batches(iter([]), size=500)) == []

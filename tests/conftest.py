"""Test order for parallel runs (`make test`: pytest-xdist): the slowest modules start first.

pytest-xdist hands tests to its processes in collection order, so a few long tests collected
last (the sync under faults and crashes: minutes each) would run alone at the end while the
other processes sit idle. Started first, they overlap with everything else. The order inside a
module stays as written, so module-scoped fixtures are still set up once per process.
"""

from __future__ import annotations

import pytest

# Slowest first (from `make test`'s --durations); the rest keep their collection order.
SLOW_MODULES = (
    "tests/integration/test_sync_faults.py",
    "tests/integration/test_sync_crash.py",
    "tests/integration/test_notify_run.py",
    "tests/integration/test_release_notes_e2e.py",
    "tests/integration/test_policy_e2e.py",
    "tests/integration/test_reports.py",
    "tests/integration/test_release_post.py",
    "tests/integration/test_mappings_live.py",
    "tests/integration/test_demo_report.py",
    "tests/integration/test_cli_worker.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(SLOW_MODULES)}
    root = config.rootpath

    def key(item: pytest.Item) -> int:
        return rank.get(item.path.relative_to(root).as_posix(), len(SLOW_MODULES))

    items.sort(key=key)  # stable: collection order within a rank

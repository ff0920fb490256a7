"""Shared integration fixtures: one in-process sandbox per Jira deployment mode per session.

Tests may write to these sandboxes; each test picks its own tickets so they do not collide,
and does not create or delete tickets (tests that must, start their own Sandbox).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sandbox import Sandbox, SandboxOptions


def _start(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Iterator[Sandbox]:
    sandbox = Sandbox(
        SandboxOptions(data_dir=tmp_path_factory.mktemp(f"sandbox-{mode}"), mode=mode)
    )  # type: ignore[arg-type]
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The default sandbox: Jira Cloud mode."""
    yield from _start(tmp_path_factory, "cloud")


@pytest.fixture(scope="session")
def sandbox_datacenter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    yield from _start(tmp_path_factory, "datacenter")

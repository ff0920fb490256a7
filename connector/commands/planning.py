"""Dry runs of the policy: `plan` (what it would do to each ticket now) and `policy backtest`
(what a policy file would have blocked or warned about among the stored changes).

Both only read: `plan` reads the tickets and the store, `policy backtest` the store alone. They
run the same pipeline as a sync, in dry-run mode, so what they print is what a sync would do.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from connector.core.errors import ConfigError
from connector.core.policy import PolicySettings
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store
from connector.sync.reader import batched, read_all
from connector.sync.recording import Evaluated
from connector.sync.runtime import offline_pipeline


def plan_all(
    worker: Worker, *, on_page: Callable[[int], None] = lambda n: None
) -> Iterator[Evaluated]:
    """Every in-scope ticket of every open source, evaluated and planned; nothing written."""
    for rt in worker.runtimes.values():
        pipeline = rt.pipeline(dry_run=True)
        for page in batched(read_all(rt.adapter, rt.mapping), rt.settings.page_size):
            result = pipeline.process(page, force=True)
            on_page(len(page))
            yield from result.evaluated


def load_policy(path: Path) -> PolicySettings:
    """A policy file: a TOML file with a [policy] table (a config file will do) or bare keys."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such policy file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return PolicySettings.model_validate(data.get("policy", data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: policy.{where}: {first['msg']}") from None


@dataclass
class Backtest:
    since: datetime
    changes: int = 0
    blocked: int = 0  # changes with at least one blocking finding
    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, severity)
    examples: dict[str, list[str]] = field(default_factory=dict)  # rule -> a few keys


def backtest(
    settings: Settings,
    store: Store,
    *,
    policy: PolicySettings,
    since: datetime,
    sources: Sequence[str] = (),
    clock: Callable[[], datetime] | None = None,
) -> Backtest:
    """Replay the stored changes updated since `since` through `policy` and count findings."""
    out = Backtest(since=since)
    for name, source_settings in settings.sources.items():
        if sources and name not in sources:
            continue
        kwargs = {"clock": clock} if clock else {}
        pipeline = offline_pipeline(name, source_settings, store, policy=policy, **kwargs)
        for chunk in batched(store.change_keys(name, updated_since=since), 500):
            for e in pipeline.reevaluate(list(chunk)).evaluated:
                _count(out, e)
    return out


def _count(out: Backtest, e: Evaluated) -> None:
    out.changes += 1
    out.blocked += e.evaluation.blocked
    for rule, severity in {(f.rule, f.severity.value) for f in e.evaluation.findings}:
        out.by_rule[(rule, severity)] += 1
        keys = out.examples.setdefault(rule, [])
        if len(keys) < 5:
            keys.append(e.change.key)

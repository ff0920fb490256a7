"""Policy benchmark: normalize + evaluate + plan of N sandbox Jira tickets on one core, no I/O.

    .venv/bin/python bench/policy_bench.py                    # 20,000 tickets
    .venv/bin/python bench/policy_bench.py --count 5000 --repeat 5
    .venv/bin/python bench/policy_bench.py --profile evaluate  # cProfile of evaluate + plan

The tickets come from the sandbox scenario (`connector.sandbox.scenario.generate`), are seeded
into an in-memory Jira store and rendered as the Cloud REST API v2 search returns them, all
before any timing starts; each text field gets the ticket's key appended, so no two tickets
share a text. Then, on this process's single thread, it times: normalize (raw issue ->
`Change`, default Jira mapping), evaluate + plan (the policy engine and the planner, with the
windows of the ticket's page of 100 on its own systems in the `Context`, as the pipeline passes
them), and the three together per ticket. The policy is the demo's (year-end freeze, notice
periods) plus a weekly freeze in Europe/Berlin and a maintenance window, so the calendar code
runs too. Each figure is the best of `--repeat` runs. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import platform
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.core.mapping import Mapping, load_mapping, normalize, resolve_names  # noqa: E402
from connector.core.mapping.schema import WorkerAction  # noqa: E402
from connector.core.model import Change, Source, SystemKind  # noqa: E402
from connector.core.planner import Capabilities, plan  # noqa: E402
from connector.core.policy import Context, PolicySettings, Window, evaluate  # noqa: E402
from connector.core.policy.config import Freeze, MaintenanceWindow  # noqa: E402
from connector.core.windows import HOLDS_WINDOW, NO_WINDOW  # noqa: E402
from connector.sandbox.catalog import INTEGRATION_USER  # noqa: E402
from connector.sandbox.jira import render  # noqa: E402
from connector.sandbox.jira.fieldset import FieldSet  # noqa: E402
from connector.sandbox.jira.seed import project_of, seed  # noqa: E402
from connector.sandbox.jira.store import Store  # noqa: E402
from connector.sandbox.scenario import generate  # noqa: E402
from connector.sandbox.scenario_model import (  # noqa: E402
    DEFAULT_BASE_TIME,
    FREEZE_END,
    FREEZE_START,
)

BASE_URL = "https://jira.example.com"
SOURCE = Source(instance="bench-jira", kind=SystemKind.JIRA_CLOUD)
PAGE = 100  # the pipeline evaluates a page at a time, with the page's windows in the context
NOW = DEFAULT_BASE_TIME


def bench_policy() -> PolicySettings:
    return PolicySettings(
        time_zone="Europe/Berlin",
        freezes=(
            Freeze(name="Year-end freeze", start=FREEZE_START, end=FREEZE_END),
            Freeze(
                name="Weekend billing freeze",
                start=datetime(2025, 1, 3, 18, 0),  # a Friday, wall-clock time in Berlin
                end=datetime(2025, 1, 6, 6, 0),
                recurrence="weekly",
                systems=("billing-batch",),
            ),
        ),
        maintenance_windows=(
            MaintenanceWindow(
                systems=("customer-db",), start=clock_time(22, 0), end=clock_time(4, 0)
            ),
        ),
        notice_days={"all-users": 7, "admins": 7, "account-owners": 30},  # type: ignore[dict-item]
    )


# The sandbox site the tickets come from (its custom field ids are its own).
SITE = FieldSet(random_seed=0, cloud=True)


def raw_issues(count: int, random_seed: int) -> list[dict[str, Any]]:
    """The scenario's tickets as Jira Cloud's v2 search returns them (fields=*all)."""
    changes = generate(count, random_seed=random_seed)
    store = Store()
    seed(store, changes, SITE, cloud=True)
    tz = ZoneInfo(INTEGRATION_USER.time_zone)
    view = render.View(base_url=BASE_URL, version="2", cloud=True, tz=tz, fs=SITE)
    fields = SITE.select(["*all"], "*all")
    out = []
    for change, issue in zip(changes, store.issues.values(), strict=True):
        assert issue.project == project_of(change)
        raw = render.issue_json(issue, view, fields, set())
        distinct_texts(raw)
        out.append(raw)
    return out


# The scenario draws its texts from a few dozen templates; real tickets do not repeat them.
TEXT_FIELDS = (
    "summary",
    "description",
    *(
        SITE.id_of(name)
        for name in (
            "Rollback plan",
            "Implementation plan",
            "Test plan",
            "Justification",
            "Security notes",
            "Operational impact",
        )
    ),
)


def distinct_texts(raw: dict[str, Any]) -> None:
    """Make every text field of the ticket its own (suffix the ticket key), so no cache keyed on
    text could make the figures better than they are for distinct tickets."""
    fields = raw["fields"]
    for name in TEXT_FIELDS:
        if isinstance(fields.get(name), str) and fields[name]:
            fields[name] += f" ({raw['key']})"


def windows_of(change: Change) -> list[Window]:
    start, end = change.planned_start, change.planned_end
    if start is None or end is None or change.status in NO_WINDOW:
        return []
    held = change.status in HOLDS_WINDOW
    return [
        Window(key=change.key, system=s, start=start, end=end, approved=held)
        for s in sorted(change.affected_systems)
    ]


def contexts(changes: Sequence[Change], policy: PolicySettings) -> list[Context]:
    """One context per ticket, as the pipeline builds them: the windows of the ticket's page on
    the ticket's own systems (only those can conflict with it)."""
    out = []
    for i in range(0, len(changes), PAGE):
        page = changes[i : i + PAGE]
        by_system: dict[str, list[Window]] = {}
        for window in (w for c in page for w in windows_of(c)):
            by_system.setdefault(window.system, []).append(window)
        for change in page:
            windows = [w for s in change.affected_systems for w in by_system.get(s, ())]
            out.append(Context(now=NOW, policy=policy, windows=windows))
    return out


def best(repeat: int, run: Callable[[], object]) -> float:
    """Seconds of the fastest of `repeat` runs (GC off while timing, as the seed loader does)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return min(times)


def jira_default() -> Mapping:
    """The shipped Jira mapping, its field names resolved against the sandbox site's fields."""
    path = ROOT / "mappings" / "jira-default.toml"
    site = [(fid, field.name) for fid, field in SITE.fields.items()]
    return resolve_names(load_mapping(path), site, file=str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--profile",
        choices=("normalize", "evaluate_only", "evaluate", "all"),
        help="print a cProfile of one run of that stage instead of figures",
    )
    args = parser.parse_args()

    mapping = jira_default()
    policy = bench_policy()
    caps = Capabilities(
        actions=frozenset(a.value for a in WorkerAction if mapping.action(a)), labels=True
    )
    raws = raw_issues(args.count, args.random_seed)
    changes = [normalize(r, mapping=mapping, source=SOURCE, base_url=BASE_URL) for r in raws]
    ctxs = contexts(changes, policy)

    def run_normalize() -> None:
        for raw in raws:
            normalize(raw, mapping=mapping, source=SOURCE, base_url=BASE_URL)

    def run_evaluate_only() -> None:
        for change, ctx in zip(changes, ctxs, strict=True):
            evaluate(change, ctx)

    def run_evaluate() -> None:
        for change, ctx in zip(changes, ctxs, strict=True):
            plan(change, evaluate(change, ctx), last_note=None, caps=caps, policy=policy)

    def run_all() -> None:
        for raw, ctx in zip(raws, ctxs, strict=True):
            change = normalize(raw, mapping=mapping, source=SOURCE, base_url=BASE_URL)
            plan(change, evaluate(change, ctx), last_note=None, caps=caps, policy=policy)

    runs = {
        "normalize": run_normalize,
        "evaluate_only": run_evaluate_only,
        "evaluate": run_evaluate,
        "all": run_all,
    }
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(runs[args.profile])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return

    run_evaluate()  # warm caches (zone files, compiled validators) once before timing
    seconds = {name: best(args.repeat, run) for name, run in runs.items()}
    evaluations = [evaluate(c, ctx) for c, ctx in zip(changes, ctxs, strict=True)]
    result = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "tickets": args.count,
        "repeat": args.repeat,
        "tickets_with_findings": sum(bool(e.findings) for e in evaluations),
        "findings": sum(len(e.findings) for e in evaluations),
        "tickets_per_second": {
            "normalize": round(args.count / seconds["normalize"]),
            "evaluate": round(args.count / seconds["evaluate_only"]),
            "evaluate_plan": round(args.count / seconds["evaluate"]),
            "normalize_evaluate_plan": round(args.count / seconds["all"]),
        },
        "seconds": {name: round(s, 3) for name, s in seconds.items()},
        "target_tickets_per_second": 20_000,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

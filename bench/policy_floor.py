"""What normalize costs at the least in CPython: the default Jira mapping written out by hand.

    .venv/bin/python bench/policy_floor.py                  # 20,000 tickets
    .venv/bin/python bench/policy_floor.py --count 5000 --repeat 5

The policy target is 20,000 tickets/s, 50 µs a ticket, for normalize + evaluate + plan on one
core. This script asks how much of those 50 µs the first step needs however it is written. It
reads the same tickets as `policy_bench.py` (sandbox scenario, rendered as Jira Cloud's v2 search
returns them, every text its own) with a function written for `mappings/jira-default.toml` alone:
every source key and converter written in place (value maps looked up in the mapping's own
dicts), no per-field reader, no error handling, no validation and no model objects (people,
approvals and links are plain dicts). It uses the product's own wiki-markup and date-time
converters, since their output is what policy reads.

Before timing, its result for every ticket is compared with the product's `normalize` (as
`Change.model_dump()`, less the source and URL), so the floor reads everything the product
reads. Then it prints, per ticket and as the best of `--repeat` runs with GC paused: the floor,
the part of it spent in the text converters, the product's `Change.model_validate` on the values
its normalize builds (nested values already models), and the product's normalize. Not a test:
it prints figures.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from typing import Any

from policy_bench import BASE_URL, SITE, SOURCE, best, jira_default, raw_issues

from connector.core.mapping import normalize
from connector.core.mapping.converters import parse_datetime
from connector.core.mapping.markup import wiki_to_text
from connector.core.model import Change

# The bench site's custom field ids by name (allocated per sandbox site).
CF = SITE.custom_ids
BUDGET_US = 1e6 / 20_000  # the target: 20,000 tickets/s for all three steps

# The mapping's value maps (a dict look-up costs the same whether the dict came from a file).
MAPS: dict[str, dict[str, Any]] = {}
# JSM's approval decisions the sandbox sends, as the `sd-approvals` converter reads them.
DECISION = {"approved": "approved", "declined": "rejected", "pending": "pending"}
TEXTS = {
    "description": "description",
    "rollback_plan": CF["Rollback plan"],
    "implementation_plan": CF["Implementation plan"],
    "test_plan": CF["Test plan"],
    "justification": CF["Justification"],
    "operational_impact": CF["Operational impact"],
}
TIMES = {
    "planned_start": CF["Change start date"],
    "planned_end": CF["Change completion date"],
    "actual_start": CF["Actual start"],
    "actual_end": CF["Actual end"],
    "created": "created",
    "updated": "updated",
}
PEOPLE = {
    "requester": "reporter",
    "assignee": "assignee",
    "implementer": CF["Implementer"],
    "emergency_approver": CF["Emergency approver"],
}


def option(raw: Any, attr: str) -> Any:
    return MAPS[attr].get(raw["value"]) if raw else None


def options(raw: Any, attr: str = "") -> tuple[Any, ...]:
    if not raw:
        return ()
    values = MAPS.get(attr)
    found = [o["value"] if values is None else values[o["value"]] for o in raw]
    return tuple(dict.fromkeys(found))


def person(raw: Any) -> dict[str, str] | None:
    if not raw:
        return None
    return {
        "id": raw["accountId"],
        "name": raw.get("displayName") or "",
        "email": raw.get("emailAddress") or "",
    }


def approvals(raw: Any) -> tuple[dict[str, Any], ...]:
    out = []
    for approval in raw or ():
        completed = approval.get("completedDate")
        for entry in approval.get("approvers") or ():
            decision = DECISION[entry["approverDecision"]]
            decided = decision not in ("pending", "not-requested")
            out.append(
                {
                    "approver": person(entry["approver"]),
                    "group": approval.get("name") or "",
                    "decision": decision,
                    "decided_at": parse_datetime(completed) if decided and completed else None,
                    "comment": "",
                }
            )
    return tuple(out)


def links(raw: Any) -> tuple[dict[str, str], ...]:
    out = []
    for link in raw or ():
        kind = link.get("type") or {}
        for side, label in (("outwardIssue", "outward"), ("inwardIssue", "inward")):
            if other := link.get(side):
                key = other["key"]
                relation = kind.get(label) or kind.get("name") or "relates to"
                out.append({"relation": relation, "target": key, "url": f"{BASE_URL}/browse/{key}"})
    return tuple(out)


def floor(raw: dict[str, Any]) -> dict[str, Any]:
    """The default Jira mapping's values for one issue, the shortest way this script knows."""
    f = raw["fields"]
    out: dict[str, Any] = {"key": raw["key"], "native_id": raw["id"]}
    out["title"] = f.get("summary") or ""
    for name, field in TEXTS.items():
        text = f.get(field)
        out[name] = wiki_to_text(text) if text else ""
    out["change_type"] = option(f.get(CF["Change type"]), "change_type")
    out["risk"] = option(f.get(CF["Change risk"]), "risk")
    out["change_class"] = option(f.get(CF["Impact"]), "change_class")
    out["affected_systems"] = options(f.get(CF["Affected systems"]))
    out["affected_services"] = tuple(c["name"] for c in f.get("components") or ())
    out["departments"] = options(f.get(CF["Affected departments"]))
    notes = f.get(CF["Security notes"])
    out["security"] = {
        "level": option(f.get(CF["Security impact"]), "security.level"),
        "categories": options(f.get(CF["InfoSec categories"]), "security.categories"),
        "notes": wiki_to_text(notes) if notes else "",
    }
    out["expected_downtime_minutes"] = f.get(CF["Expected downtime (minutes)"])
    out["customer_facing"] = option(f.get(CF["Customer facing"]), "customer_facing") or False
    out["audiences"] = options(f.get(CF["Audiences"]), "audiences")
    versions = f.get("fixVersions")
    out["release"] = versions[0]["name"] if versions else ""
    out["labels"] = tuple(dict.fromkeys(f.get("labels") or ()))
    out["links"] = links(f.get("issuelinks"))
    for name, field in TIMES.items():
        value = f.get(field)
        out[name] = parse_datetime(value) if value else None
    for name, field in PEOPLE.items():
        out[name] = person(f.get(field))
    out["approvals"] = approvals(f.get(CF["Approvals"]))
    out["cab_decision"] = option(f.get(CF["CAB decision"]), "cab_decision")
    out["standard_template"] = f.get(CF["Standard change template"]) or ""
    resolution = f.get("resolution")
    out["outcome"] = MAPS["outcome"].get(resolution["name"]) or None if resolution else None
    native = f["status"]["name"]
    out["status"], out["native_status"] = MAPS["status"][native], native
    return out


def texts_only(raw: dict[str, Any]) -> None:
    f = raw["fields"]
    for field in (*TEXTS.values(), CF["Security notes"]):
        if text := f.get(field):
            wiki_to_text(text)


def per_ticket_us(repeat: int, count: int, run: Callable[[], object]) -> float:
    return round(best(repeat, run) / count * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    mapping = jira_default()
    MAPS.update({attr: spec.map for attr, spec in mapping.fields.items() if spec.map})
    MAPS["status"] = dict(mapping.status.map) if mapping.status else {}
    raws = raw_issues(args.count, args.random_seed)
    changes = [normalize(r, mapping=mapping, source=SOURCE, base_url=BASE_URL) for r in raws]
    for raw, change in zip(raws, changes, strict=True):
        expected = change.model_dump(exclude={"source", "url"})
        if floor(raw) != expected:
            raise SystemExit(f"{change.key}: the floor reads other values than normalize")
    # What normalize hands to the model: its own values, nested ones already models.
    values = [dict(c) for c in changes]

    def run_floor() -> None:
        for raw in raws:
            floor(raw)

    def run_texts() -> None:
        for raw in raws:
            texts_only(raw)

    def run_model() -> None:
        for v in values:
            Change.model_validate(v)

    def run_normalize() -> None:
        for raw in raws:
            normalize(raw, mapping=mapping, source=SOURCE, base_url=BASE_URL)

    run_floor()  # warm up
    result = {
        "python": platform.python_version(),
        "tickets": args.count,
        "repeat": args.repeat,
        "budget_us_per_ticket_all_three_steps": BUDGET_US,
        "us_per_ticket": {
            "floor_normalize_no_model": per_ticket_us(args.repeat, args.count, run_floor),
            "of_which_text_converters": per_ticket_us(args.repeat, args.count, run_texts),
            "change_model_validate": per_ticket_us(args.repeat, args.count, run_model),
            "product_normalize": per_ticket_us(args.repeat, args.count, run_normalize),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

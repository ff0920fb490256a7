"""Switchable faults: the ways real Jira and ServiceNow misbehave, on demand.

A spec is a `;`-separated list of rules, each `KIND[@SCOPE]:opt=value,...`:

    429:rate=0.1,retry_after=2      10% of calls get 429 with Retry-After: 2 and X-RateLimit-*
    503@jira:nth=5                  the 5th Jira call gets 503
    500@servicenow:every=7          every 7th ServiceNow call gets 500
    slow:rate=0.05,delay=1.5        5% of calls are answered 1.5 s late
    drop:nth=3                      the 3rd call's connection is cut mid-response
    drop:rate=0.05,applied=1        ... after the request was carried out (the answer is lost)

KIND is 429, 500, 502, 503, 504, slow or drop; SCOPE is jira or servicenow (default: both); a
rule fires on the Nth matching call (`nth`), on every Nth (`every`), or at random with
probability `rate`, drawn from the sandbox's seeded generator so runs repeat. `count=N` caps how
often a rule fires. `/_sandbox/*` is never faulted.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from connector.core.errors import ConfigError

KINDS = ("429", "500", "502", "503", "504", "slow", "drop")
SCOPES = ("jira", "servicenow", "gitlab")


@dataclass
class FaultRule:
    kind: str
    scope: str | None = None
    nth: int | None = None
    every: int | None = None
    rate: float | None = None
    retry_after: float = 1.0
    delay: float = 1.0
    count: int | None = None
    applied: int = 0  # drop only: 1 = carry the request out, then cut the response
    seen: int = 0
    fired: int = 0

    def matches(self, scope: str, rng: random.Random) -> bool:
        if self.scope not in (None, scope):
            return False
        self.seen += 1
        if self.count is not None and self.fired >= self.count:
            return False
        hit = (
            (self.nth is not None and self.seen == self.nth)
            or (self.every is not None and self.seen % self.every == 0)
            or (self.rate is not None and rng.random() < self.rate)
        )
        if hit:
            self.fired += 1
        return hit


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, scope: str) -> FaultRule | None:
        """The first rule that fires for this call, if any (every rule counts the call)."""
        with self.lock:
            fired = [rule for rule in self.rules if rule.matches(scope, self.rng)]
        return fired[0] if fired else None


def parse_faults(spec: str, *, random_seed: int = 0) -> Faults:
    rules = [_parse_rule(part.strip()) for part in spec.split(";") if part.strip()]
    return Faults(rules=rules, rng=random.Random(f"faults:{random_seed}"))


def _parse_rule(text: str) -> FaultRule:
    head, _, opts = text.partition(":")
    kind, _, scope = head.partition("@")
    if kind not in KINDS:
        raise ConfigError(f"--faults: {text!r}: unknown fault {kind!r} (one of {', '.join(KINDS)})")
    if scope and scope not in SCOPES:
        known = ", ".join(SCOPES)
        raise ConfigError(f"--faults: {text!r}: unknown scope {scope!r} (one of {known})")
    rule = FaultRule(kind=kind, scope=scope or None)
    for opt in filter(None, (o.strip() for o in opts.split(","))):
        name, _, value = opt.partition("=")
        _set_option(rule, name, value, text)
    if rule.nth is None and rule.every is None and rule.rate is None:
        raise ConfigError(f"--faults: {text!r}: say when it fires: nth=N, every=N or rate=P")
    return rule


def _set_option(rule: FaultRule, name: str, value: str, text: str) -> None:
    converters: dict[str, type[int] | type[float]] = {
        "nth": int,
        "every": int,
        "count": int,
        "rate": float,
        "retry_after": float,
        "delay": float,
        "applied": int,
    }
    if name not in converters:
        raise ConfigError(f"--faults: {text!r}: unknown option {name!r}")
    try:
        number = converters[name](value)
    except ValueError:
        raise ConfigError(f"--faults: {text!r}: {name} must be a number, not {value!r}") from None
    if (
        number < 0
        or (name in ("rate", "applied") and number > 1)
        or (name in ("nth", "every") and number < 1)
    ):
        raise ConfigError(f"--faults: {text!r}: {name}={value} is out of range")
    setattr(rule, name, number)

"""The gate: observe mode and `act_on_changes_updated_after` withhold planned writes as data in
the plan (never dropped, never in the ledger), and change the digest stored evaluations are
compared with only when they are not the default."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.core.errors import ConfigError
from connector.core.gate import OBSERVE_REASON, Gate
from connector.core.model import Change, Person, Source, Status, SystemKind
from connector.core.planner import Capabilities, plan
from connector.core.policy import Context, PolicySettings, evaluate
from connector.settings import SourceSettings, load_settings

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
POLICY = PolicySettings()
CAPS = Capabilities(actions=frozenset({"needs_info", "approved"}), labels=True)


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-1",
        "native_id": "10001",
        "requester": Person(id="u-alice", name="Alice"),
        "status": Status.AWAITING_APPROVAL,
        "created": NOW - timedelta(days=30),
        "updated": NOW - timedelta(days=10),
    }
    return Change.model_validate(base | fields)


def planned(c: Change, gate: Gate) -> Any:
    ev = evaluate(c, Context(now=NOW, policy=POLICY))
    return gate.apply(c, plan(c, ev, last_note=None, caps=CAPS, policy=POLICY))


def test_enforce_keeps_every_action() -> None:
    p = planned(change(), Gate())
    assert p.actions and p.withheld == ()


def test_observe_withholds_every_action_with_the_reason() -> None:
    c = change()
    enforce, observe = planned(c, Gate()), planned(c, Gate(mode="observe"))
    assert observe.actions == () and observe.empty
    assert [w.action for w in observe.withheld] == list(enforce.actions)
    assert {w.reason for w in observe.withheld} == {OBSERVE_REASON}


def test_changes_updated_before_the_cut_off_get_nothing_and_later_ones_everything() -> None:
    gate = Gate(act_after=NOW - timedelta(days=1))
    old, fresh = change(), change(updated=NOW - timedelta(hours=1))
    held = planned(old, gate)
    assert held.actions == () and held.withheld
    assert "before act_on_changes_updated_after (2026-12-05T09:00:00+00:00)" in (
        held.withheld[0].reason
    )
    acted = planned(fresh, gate)
    assert acted.actions and acted.withheld == ()
    kept, withheld = gate.split(fresh, acted.actions)
    assert kept == acted.actions and withheld == ()


def test_the_digest_changes_only_with_a_gate_that_is_not_the_default() -> None:
    policy = POLICY.digest()
    assert Gate().digest(policy) == policy  # stores of earlier versions see no change
    observe = Gate(mode="observe").digest(policy)
    cut = Gate(act_after=NOW).digest(policy)
    assert len({policy, observe, cut, Gate(act_after=NOW + timedelta(days=1)).digest(policy)}) == 4


BASE = {
    "kind": "jira",
    "url": "https://acme.atlassian.net",
    "username": "u@acme.example",
    "token": "jira-api-token-1",
    "mapping": "m.toml",
}


def test_mode_defaults_to_enforce_and_act_after_reads_a_date_or_an_aware_datetime() -> None:
    zone = ZoneInfo("Europe/Berlin")
    plain = SourceSettings.model_validate(BASE)
    assert plain.mode == "enforce" and plain.act_after(zone) is None
    day = SourceSettings.model_validate(BASE | {"act_on_changes_updated_after": date(2026, 12, 6)})
    assert day.act_after(zone) == datetime(2026, 12, 6, tzinfo=zone)
    text = SourceSettings.model_validate(BASE | {"act_on_changes_updated_after": "2026-12-06"})
    assert text.act_after(zone) == datetime(2026, 12, 6, tzinfo=zone)
    moment = SourceSettings.model_validate(
        BASE | {"act_on_changes_updated_after": "2026-12-06T08:00:00+01:00"}
    )
    assert moment.act_after(zone) == datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('mode = "watch"', "sources.a.mode: Input should be 'observe' or 'enforce'"),
        (
            "act_on_changes_updated_after = 2026-12-06T08:00:00",
            "sources.a.act_on_changes_updated_after: a date-time needs an offset",
        ),
        # A number would read as seconds since 1970: every change acted on, silently.
        ("act_on_changes_updated_after = 12", "sources.a.act_on_changes_updated_after: not a date"),
        (
            'act_on_changes_updated_after = "1765000000"',
            "sources.a.act_on_changes_updated_after: not a date",
        ),
        (
            'act_on_changes_updated_after = "soon"',
            "sources.a.act_on_changes_updated_after: not a date",
        ),
    ],
)
def test_bad_onboarding_settings_are_one_clear_line(tmp_path: Path, line: str, needle: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[sources.a]\nkind = "jira"\nurl = "https://a.example"\nusername = "u"\n'
        f'token = "jira-api-token-1"\nmapping = "m.toml"\n{line}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert needle in caught.value.message and "\n" not in caught.value.message

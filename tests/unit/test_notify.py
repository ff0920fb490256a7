"""Chat notifications, pure parts: the `[[notify]]` config, events derived from findings,
routing by event / source / type, deterministic keys, and bodies in the documented formats
(checked with the same validators the sandbox's receivers use)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.commands.log import secrets_of
from connector.core.errors import ConfigError, ConnectorError
from connector.core.model import Change, ChangeType, Person, Source, Status, SystemKind
from connector.core.notify.bodies import SLACK_SECTION_TEXT, TEAMS_MAX_BYTES, body, slack, teams
from connector.core.notify.events import Event, events_of, routes
from connector.core.notify.plan import notify_actions
from connector.core.notify.settings import EventKind, NotifyChannel
from connector.core.planner import ActionKind
from connector.core.policy import Context, Evaluation, Finding, PolicySettings, Severity, evaluate
from connector.sandbox.chat_formats import adaptive_card_problem, blocks_problem
from connector.settings import load_settings
from connector.systems.chat import ChatClient, RateLimit

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SLACK_URL = "https://hooks.slack.com/services/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"
TEAMS_URL = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/3f9a1c0b2d/triggers/manual/"
    "paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx81kQ0pLm"
)


def change(**fields: Any) -> Change:
    base: dict[str, Any] = {
        "source": Source(instance="acme-jira", kind=SystemKind.JIRA_CLOUD),
        "key": "CHG-7",
        "native_id": "10007",
        "url": "https://acme.atlassian.net/browse/CHG-7",
        "title": "Rotate <prod> DB & cache keys",
        "requester": Person(id="u1", name="Alice"),
        "change_type": ChangeType.EMERGENCY,
        "status": Status.AWAITING_APPROVAL,
        "created": NOW - timedelta(hours=2),
        "updated": NOW,
    }
    return Change.model_validate(base | fields)


def evaluation(c: Change, *findings: Finding) -> Evaluation:
    ev = evaluate(c, Context(now=NOW, policy=PolicySettings()))
    return replace(ev, findings=tuple(findings))


def finding(rule: str, subject: str = "", severity: Severity = Severity.BLOCK) -> Finding:
    return Finding(rule=rule, severity=severity, message=f"{rule} says so", subject=subject)


def channel(**fields: Any) -> NotifyChannel:
    base: dict[str, Any] = {
        "name": "ops",
        "kind": "slack",
        "url": SLACK_URL,
        "events": list(EventKind),
    }
    return NotifyChannel.model_validate(base | fields)


# -- config -----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


SOURCE = """
[sources.acme-jira]
kind = "jira"
url = "https://acme.atlassian.net"
username = "bot@acme.com"
token = "a-real-looking-token-123"
mapping = "m.toml"
"""


def test_channels_load_and_their_urls_are_secrets(tmp_path: Path) -> None:
    config = (
        SOURCE
        + f"""
[[notify]]
name = "ops-slack"
kind = "slack"
url = "{SLACK_URL}"
ca_bundle = "certs/ca.pem"
events = ["emergency-created", "unauthorized"]
sources = ["acme-jira"]
change_types = ["emergency"]

[[notify]]
name = "cab"
kind = "teams"
url = "{TEAMS_URL}"
events = ["change-blocked"]
"""
    )
    settings = load_settings(write(tmp_path, config), environ={})
    assert [c.name for c in settings.notify] == ["ops-slack", "cab"]
    assert settings.notify[1].rate == 4.0 and settings.notify[0].rate == 1.0
    assert SLACK_URL in secrets_of(settings) and TEAMS_URL in secrets_of(settings)
    # HTTP libraries log request lines without the host: the path is masked too.
    assert "/services/T0AB12CD3/B0EF45GH6/q8ZkR2vN7xLmP4tW9sYc1uHd" in secrets_of(settings)
    assert SLACK_URL not in repr(settings)
    assert settings.notify[0].ca_bundle == tmp_path / "certs/ca.pem"  # next to the config


def test_a_channel_url_comes_from_the_environment_by_channel_name(tmp_path: Path) -> None:
    config = SOURCE + '[[notify]]\nname = "ops-slack"\nkind = "slack"\nevents = ["unauthorized"]\n'
    env = {"CHANGE_CONNECTOR__NOTIFY__OPS_SLACK__URL": SLACK_URL}
    settings = load_settings(write(tmp_path, config), environ=env)
    assert settings.notify[0].url.get_secret_value() == SLACK_URL
    with pytest.raises(ConfigError, match="CHANGE_CONNECTOR__NOTIFY__NOPE__URL: no entry named"):
        load_settings(write(tmp_path, config), environ={"CHANGE_CONNECTOR__NOTIFY__NOPE__URL": "x"})


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('kind = "slack"\nurl = ""', "notify.0.url: empty"),
        (
            'kind = "slack"\nurl = "https://hooks.slack.com/services/XXXX/XXXX/XXXX"',
            "notify.0.url: holds a placeholder",
        ),
        ('kind = "slack"\nurl = "http://hooks.slack.com/services/a/b/c"', "not an https URL"),
        (f'kind = "webhook"\nurl = "{SLACK_URL}"', "a webhook channel signs its bodies"),
        (
            f'kind = "webhook"\nurl = "{SLACK_URL}"\nsecret = "set-me-in-the-environment"',
            "notify.0.secret: a placeholder, not a secret",
        ),
        (f'kind = "webhook"\nurl = "{SLACK_URL}"\nsecret = "short"', "notify.0.secret: too short"),
        (f'kind = "teams"\nurl = "{TEAMS_URL}"\nsecret = "0123456789abcdef0"', "not used by"),
        (f'kind = "email"\nurl = "{SLACK_URL}"', "notify.0.kind"),
        (f'kind = "slack"\nurl = "{SLACK_URL}"\ncolour = 1', "notify.0.colour: unknown key"),
        (f'kind = "slack"\nurl = "{SLACK_URL}"\nsources = ["nope"]', "no source named 'nope'"),
        (f'kind = "slack"\nurl = "{SLACK_URL}"\nchange_types = ["big"]', "change_types.0"),
    ],
)
def test_bad_channels_are_one_line_that_never_quotes_the_url(
    tmp_path: Path, entry: str, expected: str
) -> None:
    config = SOURCE + f'[[notify]]\nname = "ops"\nevents = ["unauthorized"]\n{entry}\n'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, config), environ={})
    message = caught.value.message
    assert expected in message and "\n" not in message
    assert SLACK_URL not in message and TEAMS_URL not in message and "q8ZkR2" not in message


def test_unknown_events_and_duplicate_names_are_refused(tmp_path: Path) -> None:
    one = f'[[notify]]\nname = "ops"\nkind = "slack"\nurl = "{SLACK_URL}"\nevents = ["party"]\n'
    with pytest.raises(ConfigError, match=r"notify\.0\.events\.0"):
        load_settings(write(tmp_path, SOURCE + one), environ={})
    ok = f'[[notify]]\nname = "ops"\nkind = "slack"\nurl = "{SLACK_URL}"\n'
    ok += 'events = ["unauthorized"]\n'
    with pytest.raises(ConfigError, match=r"notify\.1\.name: same name as notify\[0\]"):
        load_settings(write(tmp_path, SOURCE + ok + ok), environ={})
    empty = f'[[notify]]\nname = "ops"\nkind = "slack"\nurl = "{SLACK_URL}"\nevents = []\n'
    with pytest.raises(ConfigError, match=r"notify\.0\.events"):
        load_settings(write(tmp_path, SOURCE + empty), environ={})


# -- events -----------------------------------------------------------------------------------


def kinds(c: Change, *findings: Finding) -> list[tuple[EventKind, str]]:
    return [(e.kind, e.identity) for e in events_of(c, evaluation(c, *findings))]


def test_emergency_created_then_implemented() -> None:
    assert kinds(change()) == [(EventKind.EMERGENCY_CREATED, "")]
    assert kinds(change(status=Status.IMPLEMENTING)) == [(EventKind.EMERGENCY_IMPLEMENTED, "")]
    assert kinds(change(status=Status.CLOSED)) == [(EventKind.EMERGENCY_IMPLEMENTED, "")]
    assert kinds(change(change_type=ChangeType.NORMAL)) == []
    assert kinds(change(status=Status.CANCELLED), finding("unauthorized")) == []


def test_events_from_findings() -> None:
    normal = change(change_type=ChangeType.NORMAL, status=Status.IMPLEMENTING)
    got = kinds(
        normal,
        finding("unauthorized", "implementing"),
        finding("freeze", "year-end"),
        finding("approval-drift", "rollback_plan"),
        finding("notice-lead-time", "all-users", Severity.WARN),
    )
    assert got == [
        (EventKind.UNAUTHORIZED, ""),
        (EventKind.FREEZE_VIOLATION, "year-end"),
        (
            EventKind.CHANGE_BLOCKED,
            "approval-drift:rollback_plan;freeze:year-end;unauthorized:implementing",
        ),
        (EventKind.APPROVAL_DRIFT, "rollback_plan"),
    ]
    # An emergency change may run in a freeze: that is no violation.
    emergency = change(status=Status.AWAITING_APPROVAL)
    assert (EventKind.FREEZE_VIOLATION, "year-end") not in kinds(
        emergency, finding("freeze", "year-end", Severity.WARN)
    )
    # A closed change: only the implemented emergency and the overdue review are news.
    closed = change(status=Status.CLOSED)
    assert kinds(closed, finding("unauthorized"), finding("emergency-review-overdue")) == [
        (EventKind.EMERGENCY_IMPLEMENTED, ""),
        (EventKind.REVIEW_OVERDUE, ""),
    ]


def test_routing_by_event_source_and_type() -> None:
    c = change(status=Status.IMPLEMENTING)
    ev = evaluation(c, finding("unauthorized"))
    everything = channel(name="all")
    only_unauth = channel(name="u", events=["unauthorized"])
    other_source = channel(name="s", sources=["acme-servicenow"])
    normal_only = channel(name="n", change_types=["normal"])
    emergency_only = channel(name="e", change_types=["emergency"], events=["unauthorized"])
    chans = [everything, only_unauth, other_source, normal_only, emergency_only]
    got = [(ch.name, e.kind) for ch, e in routes(chans, source="acme-jira", change=c, ev=ev)]
    assert got == [
        ("all", EventKind.EMERGENCY_IMPLEMENTED),
        ("all", EventKind.UNAUTHORIZED),
        ("all", EventKind.CHANGE_BLOCKED),
        ("u", EventKind.UNAUTHORIZED),
        ("e", EventKind.UNAUTHORIZED),
    ]
    untyped = change(change_type=None, status=Status.IMPLEMENTING)
    routed = routes([normal_only], source="acme-jira", change=untyped, ev=ev)
    assert routed == []


def test_notification_keys_depend_on_the_fact_not_the_text() -> None:
    c = change(status=Status.IMPLEMENTING, change_type=ChangeType.NORMAL)
    chans = [channel(name="a", events=["unauthorized"]), channel(name="b", kind="teams")]
    first = notify_actions(c, evaluation(c, finding("unauthorized")), chans)
    renamed = c.model_copy(update={"title": "Another summary"})
    again = notify_actions(renamed, evaluation(renamed, finding("unauthorized")), chans)
    assert [a.kind for a in first] == [ActionKind.NOTIFY] * len(first)
    assert [a.idempotency_key for a in first] == [a.idempotency_key for a in again]
    assert first[0].body != again[0].body
    assert len({a.idempotency_key for a in first}) == len(first)
    assert {a.channel for a in first} == {"a", "b"}
    assert all(SLACK_URL not in a.model_dump_json() for a in first)
    assert notify_actions(c, evaluation(c, finding("unauthorized")), ()) == ()


# -- bodies -----------------------------------------------------------------------------------


def test_slack_body_is_block_kit_with_escaped_text() -> None:
    c = change()
    data = slack(Event(EventKind.EMERGENCY_CREATED, "", ("why <1> & 2",)), c, source="acme-jira")
    assert blocks_problem(data["blocks"]) == ""
    assert data["text"].startswith("Emergency change raised: CHG-7 Rotate &lt;prod&gt; DB &amp;")
    head = data["blocks"][0]["text"]["text"]
    assert "<https://acme.atlassian.net/browse/CHG-7|CHG-7>" in head
    assert data["blocks"][1]["text"]["text"] == "why &lt;1&gt; &amp; 2"
    assert data["blocks"][-1]["type"] == "context"
    assert "Source: acme-jira" in data["blocks"][-1]["elements"][0]["text"]


def test_slack_body_stays_within_the_limits() -> None:
    long = "x" * 5000
    event = Event(EventKind.CHANGE_BLOCKED, "r", tuple([long] * 80))
    data = slack(event, change(title=long), source="acme-jira")
    assert blocks_problem(data["blocks"]) == ""
    assert len(data["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= SLACK_SECTION_TEXT for b in data["blocks"] if "text" in b)


def test_teams_body_is_an_adaptive_card_message_under_the_size_limit() -> None:
    event = Event(EventKind.UNAUTHORIZED, "", tuple(["y" * 2900] * 20))
    data = teams(event, change(), source="acme-jira")
    assert data["type"] == "message"
    (attachment,) = data["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert adaptive_card_problem(card) == ""
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.4"
    assert len(json.dumps(data).encode()) <= TEAMS_MAX_BYTES
    assert card["actions"][0]["url"] == "https://acme.atlassian.net/browse/CHG-7"
    assert len(card["body"]) < 3 + 20  # reasons were dropped to fit


def test_generic_body_carries_the_delivery_id() -> None:
    text = body(
        "webhook",
        Event(EventKind.FREEZE_VIOLATION, "year-end", ("in the freeze",)),
        change(change_type=ChangeType.NORMAL),
        source="acme-jira",
        delivery="cc1-abc",
    )
    data = json.loads(text)
    assert data["id"] == "cc1-abc" and data["event"] == "freeze-violation"
    assert data["about"] == "year-end" and data["reasons"] == ["in the freeze"]


def test_rate_limit_spaces_posts() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    limit = RateLimit(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limit.wait()
    assert slept == [0.2625, 0.525, 0.7875, 1.05]


def test_plan_describes_a_notification() -> None:
    from connector.commands.plan_output import describe

    c = change(status=Status.IMPLEMENTING)
    (action,) = notify_actions(
        c, evaluation(c), [channel(name="ops", events=["emergency-implemented"])]
    )
    assert describe(action) == "notify ops: emergency-implemented"


def test_the_example_channels_uncommented_hold_no_working_secret(tmp_path: Path) -> None:
    from test_settings import EXAMPLE_SECRETS

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    lines = example.read_text().splitlines()
    start = lines.index("# [[notify]]")
    uncommented = [line[2:] if line.startswith("# ") else line for line in lines[start:]]
    path = tmp_path / "example.toml"
    path.write_text("\n".join(lines[:start] + uncommented) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=EXAMPLE_SECRETS)
    message = caught.value.message
    assert "notify.0.url: holds a placeholder" in message
    assert "notify.1.url: holds a placeholder" in message
    assert "notify.2.secret: a placeholder, not a secret" in message


class _Answering(requests.Session):
    """A session whose every POST gets the same answer (no network)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__()
        self.status, self.text = status, text

    def post(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        answer = requests.Response()
        answer.status_code, answer._content, answer.encoding = (
            self.status,
            self.text.encode(),
            "utf-8",
        )
        return answer


@pytest.mark.parametrize("status", [200, 400, 401])
def test_an_answer_quoting_the_url_signature_never_reaches_an_error_or_the_ledger(
    status: int,
) -> None:
    # The Teams URL's credential is its `sig` query value; an answer may quote it alone.
    channel = NotifyChannel.model_validate(
        {"name": "cab", "kind": "teams", "url": TEAMS_URL, "events": ["unauthorized"]}
    )
    text = "invalid signature 'Zx81kQ0pLm' for " + TEAMS_URL.split("?")[1]
    client = ChatClient([channel], session=_Answering(status, text), sleep=lambda s: None)
    try:
        said = client.post("cab", "{}", delivery="d1")
    except ConnectorError as exc:
        said = exc.message
    assert "invalid signature" in said and "Zx81kQ0pLm" not in said

"""The fast paths of normalize agree with the straightforward code in `reference_paths`."""

from __future__ import annotations

import copy
import json
import random
import tomllib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import reference_paths
from site_fields import jira_default_mapping, resolved
from test_mapping_normalize import CLOUD, DATACENTER, FIXTURES, JIRA_BASE, ROOT, SN, SN_BASE

from connector.core.mapping import (
    Mapping,
    RawTicket,
    load_mapping,
    normalize,
    parse_mapping,
    wiki_to_text,
)
from connector.core.mapping.markup import tidy
from connector.core.model import Change, Source
from connector.core.notes import escape
from connector.sandbox.jira import render as jira_render
from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.seed import seed as jira_seed
from connector.sandbox.jira.store import Store as JiraStore
from connector.sandbox.scenario import generate
from connector.sandbox.servicenow.present import DisplayMode, present
from connector.sandbox.servicenow.present import View as SnView
from connector.sandbox.servicenow.render import seed as sn_seed
from connector.sandbox.servicenow.store import Store as SnStore

# Wiki syntax, whitespace and the private-use placeholders, mixed with words and punctuation.
PIECES = [
    *"*_?-+^~{}[]|!#\\.:~@",
    " ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n", "\ue000", "\ue001", "0",
    "{code}", "{code:java}", "{noformat}", "{{", "}}", "{quote}", "{panel:title=x}", "{color:red}",
    "[~", "[~accountid:", "|http://x]", "[^", "[#", "h1.", "h3. ", "bq. ", "----", "||", "??",
    "x.png", "!a.png|thumb!", "\\\\", "* ", "# ", "- ", "** ",
    "word", "snake_case", "2026-11-21", "CHG-1", "a", "Déjà", "🚀",
]  # fmt: skip


def random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(0, 24))) for _ in range(count)]


@pytest.mark.parametrize("seed", range(4))
def test_wiki_to_text_agrees_with_every_rule_on_every_text(seed: int) -> None:
    for text in random_texts(2500, seed):
        assert wiki_to_text(text) == reference_paths.wiki_to_text(text), repr(text)


@pytest.mark.parametrize("seed", range(4))
def test_wiki_escape_agrees_with_every_substitution_on_every_text(seed: int) -> None:
    texts = [*random_texts(2500, seed), "http://x.y", "mailto:a@b.c", "h1. x\nbq. y", "a\\b"]
    for text in texts:
        assert escape.wiki(text) == reference_paths.wiki_escape(text), repr(text)


# Plain text with the few characters that are markup only in some places (dashes, dots, heading
# words, line starts): where the plain-text shortcut must tell which is which.
PLAIN_PIECES = [
    "word", "x", "1", " ", "  ", "\t", "\n", " \n", ".", "-", "- ", "-\t", "--", "----", "h3.",
    "h6.", "h7.", "bq.", "bq", "CHG-1", "2026-11-21", "mail-relay", "(", ")", ",",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_wiki_to_text_agrees_on_mostly_plain_texts(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        pieces = rng.choices(PLAIN_PIECES, k=rng.randint(0, 16))
        marked = rng.choice(PIECES)  # once or twice: effects need a pair
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            if pieces:
                pieces[rng.randrange(len(pieces))] = marked
        text = "".join(pieces)
        assert wiki_to_text(text) == reference_paths.wiki_to_text(text), repr(text)


def test_wiki_to_text_agrees_on_the_scenario_texts() -> None:
    for change in generate(300, random_seed=1):
        for text in (change.description, change.title, change.rollback_plan):
            assert wiki_to_text(text) == reference_paths.wiki_to_text(text), repr(text)


@pytest.mark.parametrize(
    "text", ["a \nb", "a\t\n\n\n\nb", "  x  ", "\n\n\nx\n\n\n", "a \n \n \nb", "x\n\n\n  "]
)
def test_tidy_agrees(text: str) -> None:
    assert tidy(text) == reference_paths.tidy(text)


# ---- normalize: the compiled mapping against the per-ticket lookups --------------------------


# The sandbox site the raws come from: its field ids are its own, found by name.
SITE = FieldSet(random_seed=3, cloud=True)
SITE_FIELDS = [(fid, f.name) for fid, f in SITE.fields.items()]


def jira_raws(count: int, seed: int, *, version: str, cloud: bool) -> list[dict[str, Any]]:
    changes = generate(count, random_seed=seed)
    store = JiraStore()
    jira_seed(store, changes, SITE, cloud=True)
    view = jira_render.View(
        base_url=JIRA_BASE, version=version, cloud=cloud, tz=ZoneInfo("UTC"), fs=SITE
    )
    fields = SITE.select(["*all"], "*all")
    return [jira_render.issue_json(issue, view, fields, set()) for issue in store.issues.values()]


def sn_raws(count: int, seed: int, *, mode: DisplayMode) -> list[RawTicket]:
    store = SnStore()
    sn_seed(store, generate(count, random_seed=seed), datetime(2026, 1, 1, tzinfo=UTC))
    view = SnView(fields=None, mode=mode, links=True, zone="Europe/Paris", base_url=SN_BASE)
    changes, approvals = store.tables["change_request"], store.tables["sysapproval_approver"]
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in approvals.rows.values():
        rows.setdefault(row["sysapproval"], []).append(present(store, approvals, row, view))
    return [
        RawTicket(present(store, changes, row, view), {"sysapproval_approver": rows.get(sid, [])})
        for sid, row in changes.rows.items()
    ]


def outcome(fn: Any, raw: Any, mapping: Mapping, source: Source, base: str) -> Any:
    """The Change with what validation recorded, or the error's type and message."""
    try:
        change = fn(raw, mapping=mapping, source=source, base_url=base)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    fields_set = (change.model_fields_set, change.security.model_fields_set)
    return change, fields_set, change.model_dump()


def assert_same(raw: Any, mapping: Mapping, source: Source, base: str) -> None:
    fast = outcome(normalize, raw, mapping, source, base)
    assert fast == outcome(reference_paths.normalize, raw, mapping, source, base)


def extra_jira_mapping() -> Mapping:
    """The default Jira mapping with defaults, a list of sources, dotted paths, status rules."""
    data = tomllib.loads((ROOT / "mappings" / "jira-default.toml").read_text(encoding="utf-8"))
    fields = data["fields"]
    fields["change_class"]["default"] = "minor"
    fields["risk"]["default"] = "low"
    fields["affected_systems"]["default"] = ["unknown-system"]
    fields["customer_facing"]["default"] = False
    fields["expected_downtime_minutes"]["default"] = 0
    fields["outcome"]["default"] = "successful"  # and "Won't Do" maps to no value
    fields["title"]["source"] = [SITE.id_of("Standard change template"), "summary"]
    fields["release"] = {"source": "fixVersions.0.name", "converter": "text"}
    fields["standard_template"] = {"source": "project.key", "converter": "text"}
    # One token for a list attribute; a map whose keys differ only in case.
    fields["affected_services"] = {"source": SITE.id_of("Change type"), "converter": "option"}
    fields["change_type"]["map"] |= {"NORMAL": "emergency", "normal": "standard"}
    fields["approvals"]["map"] = {"ok": "approved", "Nope": "rejected"}
    data["status"]["rules"] = [
        {"when": {"resolution.name": ["Won't Do", "Declined"]}, "status": "cancelled"},
        {
            "when": {"status.name": "review", f"{SITE.id_of('Customer facing')}.value": "Yes"},
            "status": "review",
        },
    ]
    data["status"]["default"] = "draft"
    return resolved(parse_mapping(data), SITE_FIELDS)


@pytest.fixture(scope="module")
def mappings() -> dict[str, Mapping]:
    return {
        "jira": jira_default_mapping(SITE_FIELDS),
        "sn": load_mapping(ROOT / "mappings" / "servicenow-default.toml"),
        "minimal": load_mapping(FIXTURES / "minimal_jira.toml"),
        "adhoc": load_mapping(FIXTURES / "jira_reference_adhoc.toml"),
        "extra": extra_jira_mapping(),
    }


def test_normalize_agrees_on_the_fixtures(mappings: dict[str, Mapping]) -> None:
    for name in ("jira_issue_v2.json", "jira_issue_v3_adf.json", "jira_issue_datacenter.json"):
        raw = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        for mapping in ("jira", "minimal", "adhoc", "extra"):
            assert_same(raw, mappings[mapping], CLOUD, JIRA_BASE + "/")
    for record, rows in (
        ("servicenow_change_plain.json", "servicenow_approvals_plain.json"),
        ("servicenow_change_all.json", "servicenow_approvals_all.json"),
    ):
        raw = RawTicket(
            json.loads((FIXTURES / record).read_text(encoding="utf-8")),
            {"sysapproval_approver": json.loads((FIXTURES / rows).read_text(encoding="utf-8"))},
        )
        assert_same(raw, mappings["sn"], SN, SN_BASE)


@pytest.mark.parametrize(("version", "cloud"), [("2", True), ("3", True), ("2", False)])
def test_normalize_agrees_on_scenario_jira_tickets(
    mappings: dict[str, Mapping], version: str, cloud: bool
) -> None:
    for raw in jira_raws(150, 5, version=version, cloud=cloud):
        for mapping in ("jira", "extra"):
            assert_same(raw, mappings[mapping], CLOUD if cloud else DATACENTER, JIRA_BASE)


@pytest.mark.parametrize("mode", ["all", "false", "true"])
def test_normalize_agrees_on_scenario_servicenow_records(
    mappings: dict[str, Mapping], mode: DisplayMode
) -> None:
    for raw in sn_raws(150, 6, mode=mode):
        assert_same(raw, mappings["sn"], SN, SN_BASE)


# Values a field may hold that its converter or attribute does not expect.
ODD_VALUES: list[Any] = [
    None, "", " ", [], {}, 0, -5, 1.5, True, False, "nonsense", "normal", "NORMAL", "Normal",
    "nORMAL", "yes", "Yes", "no", "Medium", "*", "2026-01-01", "2026-13-01",
    "2026-01-01T10:00:00+0200",
    1_700_000_000_000, 10**30, {"value": ""}, {"value": "", "display_value": ""},
    {"value": "High"}, {"value": "x", "display_value": "Shown"}, {"name": "n"}, {"id": 7},
    {"type": "doc", "content": []}, {"type": "doc"}, {"unknown": 1}, [1, 2], ["a", ""],
    [{"value": "Engineering"}, {"value": "Engineering"}], [{"name": "svc"}, {"x": 1}], "a, b,,c",
    {"accountId": ""}, {"accountId": "acc-1", "displayName": "A"}, {"name": "dc-user"},
    [{"approvers": [{"approver": {"accountId": "a"}, "approverDecision": "weird"}]}],
    [{"approvers": [{"approver": {"accountId": "a"}, "approverDecision": "OK"}]}],
    [{"approvers": [{"approver": "someone", "approverDecision": "approved"}],
      "completedDate": {"iso8601": "2026-01-01T00:00:00Z"}}],
    [{"type": {"outward": "blocks"}, "outwardIssue": {"key": "CHG-9"}}], [None],
    "h1. *bold* [link|http://x]", "\ue000", "-1", "1e3", "inf", "nan",
]  # fmt: skip


def test_normalize_agrees_on_odd_values(mappings: dict[str, Mapping]) -> None:
    """Each odd value in each field a mapping reads, one at a time; then a few at a time."""
    [raw] = jira_raws(1, 8, version="2", cloud=True)
    names = sorted(
        {p.split(".")[0] for m in mappings.values() for f in m.fields.values() for p in f.sources}
    )
    for name in names:
        for value in ODD_VALUES:
            odd = {**raw, "fields": {**raw["fields"], name: value}}
            for mapping in ("jira", "extra"):
                assert_same(odd, mappings[mapping], CLOUD, JIRA_BASE)
    rng = random.Random(7)
    raws = jira_raws(30, 8, version="2", cloud=True)
    names = sorted({p for r in raws for p in r["fields"]})
    for raw in raws:
        for _ in range(20):
            odd = copy.deepcopy(raw)
            for name in rng.sample(names, rng.choice((1, 2, 3))):
                odd["fields"][name] = copy.deepcopy(rng.choice(ODD_VALUES))
            for mapping in ("jira", "extra"):
                assert_same(odd, mappings[mapping], CLOUD, JIRA_BASE)
    for raw in sn_raws(20, 9, mode="all"):
        columns = sorted(raw.data)
        for _ in range(25):
            odd = copy.deepcopy(raw)
            for name in rng.sample(columns, rng.choice((1, 1, 2, 3))):
                odd.data[name] = copy.deepcopy(rng.choice(ODD_VALUES))
            if rng.random() < 0.3:
                odd.related["sysapproval_approver"] = rng.choice(ODD_VALUES)
            assert_same(odd, mappings["sn"], SN, SN_BASE)


def test_normalize_agrees_when_identity_or_required_values_are_missing(
    mappings: dict[str, Mapping],
) -> None:
    [raw] = jira_raws(1, 10, version="2", cloud=True)
    for change in ({"key": ""}, {"id": None}, {"fields": None}, {"fields": {}}):
        assert_same({**raw, **change}, mappings["jira"], CLOUD, JIRA_BASE)
    start, end = SITE.id_of("Change start date"), SITE.id_of("Change completion date")
    for name in ("created", "updated", start, "status"):
        assert_same(
            {**raw, "fields": {**raw["fields"], name: None}}, mappings["jira"], CLOUD, JIRA_BASE
        )
    late = {**raw["fields"], start: "2030-01-02T00:00:00.000+0000"}
    late[end] = "2030-01-01T00:00:00.000+0000"  # ends before it starts
    assert_same({**raw, "fields": late}, mappings["jira"], CLOUD, JIRA_BASE)
    assert_same(raw, mappings["jira"], SN, JIRA_BASE)  # the wrong source for the mapping
    # A flat key with a dot in its name wins over walking the path.
    flat = {**raw["fields"], "fixVersions.0.name": "flat"}
    assert_same({**raw, "fields": flat}, mappings["extra"], CLOUD, JIRA_BASE)


def test_change_has_no_validators_normalize_does_not_know() -> None:
    """normalize checks values one by one; the model's own validators run on the whole."""
    decorators = Change.__pydantic_decorators__
    assert set(decorators.field_validators) == {"_end_after_start"}
    assert not decorators.model_validators

"""Converters and the markup renderers: raw Jira / ServiceNow shapes -> model values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.core.mapping import CONVERTERS, adf_to_text, wiki_to_text
from connector.core.mapping.raw import Context, ConvertError, is_empty, lookup, scalar
from connector.core.model import Decision, Link, Person, Status

CTX = Context(key="CHG-1", native_id="abc", base_url="https://jira.example.com")


def read(name: str, value: Any, ctx: Context = CTX) -> Any:
    return CONVERTERS[name].read(value, ctx)


# ---- wiki markup ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wiki", "text"),
    [
        ("*bold* [link|http://x] {code}x{code} [~accountid:abc]", "bold link x @abc"),
        ("h1. Title\nbq. quoted", "Title\nquoted"),
        ("_em_ -strike- +under+ ^sup^ ~sub~ ??cite??", "em strike under sup sub cite"),
        ("*_nested_* and *[a link|http://e.example]*", "nested and a link"),
        ("snake_case_name and 2026-11-21 and a - b and 3*4*5", None),
        ("{code:java}\nint *x* = [y|z];\n{code}", "int *x* = [y|z];"),
        ("{noformat}*raw*{noformat} {{*mono*}}", "*raw* *mono*"),
        ("\\*not bold\\* and \\[not a link\\]", "*not bold* and [not a link]"),
        ("line one\\\\line two", "line one\nline two"),
        ("* one\n** two\n# three\n- four", "- one\n- two\n- three\n- four"),
        ("||h1||h2||\n|a|b|", "h1 | h2\na | b"),
        ("{color:red}red{color} {panel:title=T}in panel{panel} {quote}q{quote}", "red in panel q"),
        (
            "[http://bare.example/x_y_z] [~jsmith] [^file.txt]",
            "http://bare.example/x_y_z @jsmith file.txt",
        ),
        ("!diagram.png|thumbnail! see above", "diagram.png see above"),
        ("Wow! Great! Fine.", "Wow! Great! Fine."),
        (
            "Déploiement ✓ naïve café 数据库 🚀 «quotes»",
            "Déploiement ✓ naïve café 数据库 🚀 «quotes»",
        ),
        ("<script>alert('x')</script> & <b>html</b>", "<script>alert('x')</script> & <b>html</b>"),
        ("----\ntext\n\n\n\nmore   \n", "text\n\nmore"),
    ],
)
def test_wiki_to_text(wiki: str, text: str | None) -> None:
    assert wiki_to_text(wiki) == (wiki if text is None else text)


def test_wiki_cannot_forge_placeholders() -> None:
    assert wiki_to_text("\ue0000\ue001 {code}x{code}") == "0 x"


# ---- Atlassian Document Format ----------------------------------------------------------------


def para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, *marks: str) -> dict[str, Any]:
    return {"type": "text", "text": value, "marks": [{"type": m} for m in marks]}


def test_adf_keeps_the_words() -> None:
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            para(text("*bold* ", "strong"), text("[link|http://x]"), text(" café ✓ 数据库")),
            para(
                {"type": "mention", "attrs": {"id": "abc"}},
                {"type": "text", "text": " "},
                {"type": "status", "attrs": {"text": "IN REVIEW"}},
                {"type": "text", "text": " "},
                {"type": "date", "attrs": {"timestamp": "1795255200000"}},
                {"type": "text", "text": " "},
                {"type": "inlineCard", "attrs": {"url": "https://e.example/1"}},
            ),
            {"type": "rule"},
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "1"}}]},
            {"type": "panel", "content": [para(text("in a panel"))]},
            {"type": "expand", "attrs": {"title": "More"}, "content": [para(text("hidden"))]},
            {"type": "blockquote", "content": [para(text("quoted"))]},
        ],
    }
    assert adf_to_text(doc) == (
        "*bold* [link|http://x] café ✓ 数据库\n@abc IN REVIEW 2026-11-21 https://e.example/1\n"
        "in a panel\nMore\nhidden\nquoted"
    )


def test_adf_rejects_absurd_nesting() -> None:
    node: dict[str, Any] = text("deep")
    for _ in range(200):
        node = {"type": "panel", "content": [node]}
    with pytest.raises(ConvertError, match="nested too deeply"):
        read("adf", {"type": "doc", "content": [node]})


def test_rich_reads_either_form() -> None:
    assert read("rich", "*x*") == "x"
    assert read("rich", {"type": "doc", "content": [para(text("x"))]}) == "x"
    with pytest.raises(ConvertError, match="use converter 'adf' or 'rich'"):
        read("text", {"type": "doc", "content": []})
    with pytest.raises(ConvertError):
        read("wiki", {"type": "doc", "content": []})


# ---- scalars and ServiceNow value forms --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("x", "x"),
        (True, "true"),
        (3.0, "3"),
        (2.5, "2.5"),
        ({"self": "s", "value": "Normal", "id": "1"}, "Normal"),
        ({"self": "s", "name": "Done", "id": "1"}, "Done"),
        ({"display_value": "Authorize", "value": "-3"}, "-3"),
        ({"link": "https://sn/x", "value": "abc"}, "abc"),
        (None, None),
        (7, "7"),
        (Status.APPROVED, "approved"),  # text of a str subclass: its value
        ({"value": 4, "name": "four"}, "4"),  # numbers in objects as they are
        ({"value": 4.0}, "4.0"),
        ({"value": True, "name": "Yes"}, "Yes"),  # a boolean is not an object's value
        ({"value": None, "id": 10}, "10"),
        ({"value": Status.CLOSED}, "closed"),
    ],
)
def test_scalar(raw: Any, value: str | None) -> None:
    assert scalar(raw) == value


@pytest.mark.parametrize("raw", [{}, {"value": True}, {"value": [1]}, [1], (1,), object()])
def test_scalar_refuses_what_holds_no_single_value(raw: Any) -> None:
    with pytest.raises(ConvertError, match="expected a single value"):
        scalar(raw)


def test_display_prefers_the_display_value() -> None:
    assert read("display", {"display_value": "SOP-001", "value": "abc"}) == "SOP-001"
    assert read("display", "abc") == "abc"


@pytest.mark.parametrize(
    "raw", [None, "", [], {}, {"display_value": "", "value": ""}, {"link": "", "value": ""}]
)
def test_empty_forms(raw: Any) -> None:
    assert is_empty(raw)


def test_lookup_exact_then_casefold_then_star() -> None:
    value_map = {"Major": "major", "minor": "minor", "*": ""}
    assert lookup(value_map, "Major") == (True, "major")
    assert lookup(value_map, "MINOR") == (True, "minor")
    assert lookup(value_map, "other") == (True, "")
    assert lookup({"a": 1}, "b") == (False, None)


@pytest.mark.parametrize(
    ("raw", "person"),
    [
        ({"display_value": "Alice", "link": "l", "value": "s1"}, Person(id="s1", name="Alice")),
        ({"link": "l", "value": "s1"}, Person(id="s1")),
        ("s1", Person(id="s1")),
        ({"display_value": "", "value": ""}, None),
    ],
)
def test_reference_forms(raw: Any, person: Person | None) -> None:
    assert read("reference", raw) == person


def test_user_cloud_and_datacenter() -> None:
    cloud = {"accountId": "712020:x", "displayName": "A", "emailAddress": "a@e"}
    assert read("user", cloud) == Person(id="712020:x", name="A", email="a@e")
    assert read("user", {"name": "jsmith", "key": "JIRAUSER1", "displayName": "J"}) == Person(
        id="jsmith", name="J"
    )
    with pytest.raises(ConvertError, match="no accountId or name"):
        read("user", {"displayName": "ghost"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-21T10:00:00.000+0000", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T11:30:00.000+0130", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21 10:00:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        (
            {"display_value": "2026-11-21 11:00:00", "value": "2026-11-21 10:00:00"},
            datetime(2026, 11, 21, 10, tzinfo=UTC),
        ),
        (
            {
                "iso8601": "2026-11-21T10:00:00+0000",
                "jira": "2026-11-21T10:00:00.000+0000",
                "epochMillis": 1795255200000,
            },
            datetime(2026, 11, 21, 10, tzinfo=UTC),
        ),
        (1795255200000, datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ],
)
def test_datetime_forms(raw: Any, expected: datetime) -> None:
    value = read("datetime", raw)
    assert value == expected and value.tzinfo is UTC


@pytest.mark.parametrize("raw", ["21/Nov/26 10:00 AM", "tomorrow", [], {"friendly": "x"}])
def test_datetime_rejects(raw: Any) -> None:
    with pytest.raises(ConvertError):
        read("datetime", raw)


def test_list_converters() -> None:
    assert read("list", "a, b,,c ") == ("a", "b", "c")
    assert read("list", {"display_value": "A, B", "value": "a,b"}) == ("a", "b")
    assert read("cmdb-ci", {"display_value": "payments-api, auth-service", "value": "1,2"}) == (
        "payments-api",
        "auth-service",
    )
    assert read("cmdb-ci", "1,2") == ("1", "2")
    assert read("multi-option", [{"value": "A"}, {"value": "B"}]) == ("A", "B")
    assert read("components", [{"id": "1", "name": "api"}]) == ("api",)
    assert read("labels", ["x", "y"]) == ("x", "y")
    with pytest.raises(ConvertError, match="expected a list"):
        read("labels", "x")


def test_links() -> None:
    raw = [
        {
            "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
            "outwardIssue": {"key": "A-1"},
        },
        {"type": {"name": "Relates"}, "inwardIssue": {"key": "B-2"}},
    ]
    assert read("links", raw) == (
        Link(relation="blocks", target="A-1", url="https://jira.example.com/browse/A-1"),
        Link(relation="Relates", target="B-2", url="https://jira.example.com/browse/B-2"),
    )


def test_approval_decisions_use_the_field_map_first() -> None:
    ctx = Context("CHG-1", "abc", "x", {"skipped": "cancelled"})
    rows = [
        {"approver": "u1", "state": "skipped"},
        {"approver": "u2", "state": "not requested"},
        {"approver": "u3", "state": "requested"},
    ]
    decisions = [a.decision for a in read("sn-approvals", rows, ctx)]
    assert decisions == [Decision.CANCELLED, Decision.NOT_REQUESTED, Decision.PENDING]
    with pytest.raises(ConvertError, match="'maybe' is not in the map"):
        read("sn-approvals", [{"approver": "u1", "state": "maybe"}])

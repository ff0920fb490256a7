"""The Jira marker property as values: reading it, pending -> done, pruning under 32 KB."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.sync.executor import LEDGER_PAGE
from connector.systems import jira_markers, servicenow_journal
from connector.systems.jira_markers import NoteMark
from connector.systems.jira_notes import MarkerCache
from connector.systems.jira_seen import CACHE_ISSUES, Offered

FP = "f" * 64


def _size(value: dict[str, Any]) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def test_a_new_note_goes_pending_then_done_with_its_comment() -> None:
    notes = jira_markers.pending({}, "change-connector:notes", fp=FP)
    assert notes["change-connector:notes"] == NoteMark(ref=None, fp=FP, state="pending")
    assert notes["change-connector:notes"].pending
    notes = jira_markers.done(notes, "change-connector:notes", ref="10042", fp=FP)
    value = jira_markers.value(notes, keep="change-connector:notes")
    assert value == {
        "v": 1,
        "notes": {"change-connector:notes": {"ref": "10042", "fp": FP, "state": "done"}},
    }
    assert jira_markers.parse(value) == notes


def test_the_property_round_trips_and_keeps_other_notes() -> None:
    notes = jira_markers.done({}, "a", ref="1", fp="x")
    notes = jira_markers.pending(notes, "b", fp="y")
    parsed = jira_markers.parse(jira_markers.value(notes, keep="b"))
    assert parsed == {
        "a": NoteMark(ref="1", fp="x", state="done"),
        "b": NoteMark(ref=None, fp="y", state="pending"),
    }
    assert not parsed["a"].pending


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "text",
        {"notes": {}},  # no version
        {"v": 2, "notes": {"a": {"ref": "1", "fp": "x", "state": "done"}}},  # a later format
        {"v": 1, "notes": []},
    ],
)
def test_a_missing_or_foreign_property_holds_no_markers(raw: Any) -> None:
    assert jira_markers.parse(raw) == {}


def test_entries_that_cannot_be_read_are_no_markers() -> None:
    raw = {
        "v": 1,
        "notes": {
            "ok": {"ref": 7, "fp": "x", "state": "done"},
            "no-state": {"ref": "1", "fp": "x"},
            "odd-state": {"ref": "1", "fp": "x", "state": "gone"},
            "done-without-ref": {"ref": None, "fp": "x", "state": "done"},
            "not-a-dict": "done",
        },
    }
    assert jira_markers.parse(raw) == {
        "ok": NoteMark(ref="7", fp="x", state="done"),
        # posted by the edit that wrote the marker: the comment id is not recorded yet
        "done-without-ref": NoteMark(ref=None, fp="x", state="done"),
    }


def _versioned(n: int) -> str:
    return f"change-connector:comms:{n:016x}"


def test_pruning_drops_the_oldest_versioned_markers_first() -> None:
    notes: dict[str, NoteMark] = {"change-connector:notes": NoteMark("5", FP, "done")}
    for n in range(400):  # newer versions have newer (larger) comment ids
        notes[_versioned(n)] = NoteMark(str(1000 + n), FP, "done")
    notes = jira_markers.pending(notes, "change-connector:new", fp=FP)
    value = jira_markers.value(notes, keep="change-connector:new")
    assert _size(value) <= jira_markers.LIMIT_BYTES
    kept = jira_markers.parse(value)
    assert "change-connector:notes" in kept  # a note edited in place outlives old versions
    assert kept["change-connector:new"].pending
    versions = sorted(
        int(m.rsplit(":", 1)[1], 16) for m in kept if m.startswith("change-connector:comms")
    )
    assert versions and versions == list(range(400 - len(versions), 400))  # the newest stay


def test_pending_markers_and_the_one_written_are_never_pruned() -> None:
    notes = {f"p{n}": NoteMark(None, FP, "pending") for n in range(3)}
    notes["old"] = NoteMark("1", FP, "done")
    notes["kept"] = NoteMark("2", FP, "done")
    value = jira_markers.value(
        notes, keep="kept", limit=_size(jira_markers.value(notes, keep="kept")) - 1
    )
    assert set(jira_markers.parse(value)) == {"p0", "p1", "p2", "kept"}
    with pytest.raises(ValueError, match="under 100 bytes"):
        jira_markers.value(notes, keep="kept", limit=100)


def test_notes_whose_comment_id_is_not_recorded_are_pruned_last() -> None:
    notes = {
        _versioned(1): NoteMark(None, FP, "done"),
        _versioned(2): NoteMark("20", FP, "done"),
        "keep": NoteMark("30", FP, "done"),
    }
    full = _size(jira_markers.value(notes, keep="keep"))
    value = jira_markers.value(notes, keep="keep", limit=full - 1)
    assert set(jira_markers.parse(value)) == {_versioned(1), "keep"}


def test_comment_ids_learned_after_a_write_fill_a_property_read_without_them() -> None:
    read = {"a": NoteMark(None, "x", "done"), "b": NoteMark(None, "y", "done")}
    known = {"a": NoteMark("10", "x", "done"), "b": NoteMark("11", "other", "done")}
    assert jira_markers.with_refs(read, known) == {
        "a": NoteMark("10", "x", "done"),
        "b": NoteMark(None, "y", "done"),  # another version of the note: its id is not this
    }


def test_non_numeric_refs_are_pruned_before_numeric_ones() -> None:
    notes = {
        _versioned(1): NoteMark("20", FP, "done"),
        _versioned(2): NoteMark("legacy", FP, "done"),
        "keep": NoteMark("30", FP, "done"),
    }
    full = _size(jira_markers.value(notes, keep="keep"))
    value = jira_markers.value(notes, keep="keep", limit=full - 1)
    assert set(jira_markers.parse(value)) == {_versioned(1), "keep"}


def test_the_marker_cache_is_bounded_and_refreshed_by_each_read() -> None:
    cache = MarkerCache(size=2)
    done = jira_markers.value(jira_markers.done({}, "m", ref="9", fp="x"), keep="m")
    cache.seen({"key": "CHG-1", "properties": {jira_markers.PROPERTY_KEY: done}})
    cache.seen({"key": "CHG-2", "properties": {}})
    assert cache.get("CHG-1") == {"m": NoteMark("9", "x", "done")}
    assert cache.get("CHG-2") == {}  # read with its properties: known to carry no marker
    cache.seen({"key": "CHG-1", "properties": {}})  # read again: the newer state wins
    assert cache.get("CHG-1") == {}
    cache.seen({"key": "CHG-3", "properties": {}})
    assert cache.get("CHG-2") is None  # the least recently read one made room
    cache.seen({"key": "CHG-4", "fields": {}})  # read without properties: nothing known
    assert cache.get("CHG-4") is None


def test_the_adapters_keep_more_tickets_than_the_batches_of_writes_in_flight() -> None:
    """A batch's tickets are read in bulk before its writes and must still be kept when each
    write checks them; the write queue has at most four batches open at once (its own test),
    each a ledger page of at most `LEDGER_PAGE` tickets."""
    assert CACHE_ISSUES >= 4 * LEDGER_PAGE
    assert servicenow_journal.REMEMBERED >= 4 * LEDGER_PAGE


def test_an_issue_is_known_in_the_cache_by_id_and_by_key() -> None:
    cache = MarkerCache(size=1)
    cache.seen({"id": "10001", "key": "CHG-1", "properties": {}})
    cache.put("10001", {"m": NoteMark("9", "x", "done")})  # a write names the issue by id
    assert cache.get("CHG-1") == cache.get("10001") == {"m": NoteMark("9", "x", "done")}
    cache.put("CHG-1", {})
    assert cache.get("10001") == {}
    cache.seen({"id": "10002", "key": "CHG-2", "properties": {}})
    assert cache.get("CHG-1") is None and cache.get("10001") is None


def test_a_forgotten_issue_is_read_again_whether_named_by_id_or_key() -> None:
    """After a lapsed claim the executor makes the writer forget the issue (executor.py)."""
    cache = MarkerCache()
    for name in ("10001", "CHG-1"):
        cache.seen({"id": "10001", "key": "CHG-1", "properties": {}})
        cache.seen({"id": "10002", "key": "CHG-2", "properties": {}})
        assert cache.get("CHG-1") == {}
        cache.forget(name)
        assert cache.get("CHG-1") is None and cache.get("10001") is None
        assert cache.state("CHG-1") is None  # status, labels and transitions too
        assert cache.get("CHG-2") == {}  # the others stay


def test_the_cache_keeps_status_labels_and_transitions_as_read() -> None:
    cache = MarkerCache()
    offered = [{"id": "11", "name": "Approve", "to": {"name": "Scheduled"}}]
    cache.seen(
        {
            "id": "10001",
            "key": "CHG-1",
            "fields": {"status": {"name": "Authorize"}, "labels": ["a"]},
            "transitions": offered,
            "properties": {},
        }
    )
    seen = cache.state("CHG-1")
    assert seen is not None
    assert (seen.status, seen.labels) == ("Authorize", ("a",))
    assert seen.transitions == (Offered("11", "Approve", "Scheduled"),)
    cache.seen({"id": "10001", "key": "CHG-1", "fields": {}})  # a read of the key alone
    assert cache.state("10001") == seen  # keeps what it did not carry
    cache.moved("10001", "Scheduled")
    seen = cache.state("CHG-1")
    assert seen is not None and (seen.status, seen.transitions) == ("Scheduled", None)
    cache.seen({"id": "10001", "key": "CHG-1", "fields": {"status": {"name": "Closed"}}})
    seen = cache.state("CHG-1")
    assert seen is not None and (seen.status, seen.transitions) == ("Closed", None)


def test_comment_ids_the_property_lacks_stay_unsaved_until_a_read_shows_them() -> None:
    cache = MarkerCache()
    posted = jira_markers.value(jira_markers.done({}, "m", ref=None, fp="x"), keep="m")
    cache.seen({"id": "1", "key": "CHG-1", "properties": {jira_markers.PROPERTY_KEY: posted}})
    cache.put("1", {"m": NoteMark("9", "x", "done")}, unsaved=True)
    # the next page still shows the property without the id: the id learned is kept
    cache.seen({"id": "1", "key": "CHG-1", "properties": {jira_markers.PROPERTY_KEY: posted}})
    seen = cache.state("CHG-1")
    assert seen is not None and seen.unsaved and seen.notes == {"m": NoteMark("9", "x", "done")}
    saved = jira_markers.value({"m": NoteMark("9", "x", "done")}, keep="")
    cache.seen({"id": "1", "key": "CHG-1", "properties": {jira_markers.PROPERTY_KEY: saved}})
    seen = cache.state("CHG-1")
    assert seen is not None and not seen.unsaved


def test_issues_of_one_workflow_and_status_share_one_copy_of_their_transitions() -> None:
    cache = MarkerCache()
    offered = [{"id": "11", "name": "Approve", "to": {"name": "Scheduled"}}]
    for n in (1, 2):
        cache.seen(
            {
                "id": str(n),
                "key": f"CHG-{n}",
                "fields": {
                    "status": {"name": "Authorize"},
                    "project": {"key": "CHG"},
                    "issuetype": {"name": "Change"},
                },
                "transitions": offered,
            }
        )
    one, two = cache.state("CHG-1"), cache.state("CHG-2")
    assert one is not None and two is not None
    assert one.transitions is two.transitions
    cache.moved("CHG-1", "Scheduled")
    assert cache.offered_there("CHG-2") == (Offered("11", "Approve", "Scheduled"),)
    assert cache.offered_there("CHG-1") is None  # nothing read in Scheduled yet


def test_missing_names_the_unknown_issues_and_keeps_the_known_ones_from_being_pushed_out() -> None:
    cache = MarkerCache(size=2)
    cache.seen({"id": "1", "key": "CHG-1", "properties": {}})
    cache.seen({"id": "2", "key": "CHG-2", "properties": {}})
    assert cache.missing(["CHG-1", "3"]) == ["3"]  # CHG-1 is now the newest
    cache.seen({"id": "3", "key": "CHG-3", "properties": {}})  # reading 3 in pushes out 2
    assert cache.get("CHG-1") == {} and cache.get("2") is None

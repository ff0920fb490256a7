"""The sample pack's population, draw and signed manifest: only changes implemented or closed in
the period, the same seed draws the same sample, exceptions can be added, and verification fails
on an edited, added or removed file and on another key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from test_report_html import DAY, T0, make_row

from connector.reports.pack import PackInvalid, sign_pack, verify_pack
from connector.reports.sample import draw, population, population_csv

SINCE, UNTIL = T0, T0 + 28 * DAY
KEY = "a-pack-key-of-16+chars"


def rows() -> list:
    return [
        make_row(key="CHG-3", implemented_at=T0 + DAY),  # implemented in the period
        make_row(key="CHG-1", status="awaiting-approval", implemented_at=None),  # not yet
        make_row(key="CHG-2", status="draft", implemented_at=None, implemented_end=None),
        make_row(key="CHG-4", implemented_at=T0 - DAY, implemented_end=T0 + DAY),  # closed in it
        make_row(key="CHG-5", implemented_at=UNTIL, implemented_end=UNTIL + DAY),  # after it
        make_row(
            key="CHG-6",
            status="implementing",
            implemented_at=T0 + 2 * DAY,
            implemented_end=None,
            approved_before_implemented="no",
        ),
        make_row(key="CHG-7", implemented_at=T0 - 2 * DAY, implemented_end=T0 - DAY),  # before
    ]


def test_the_population_is_the_changes_implemented_or_closed_in_the_period() -> None:
    pool = population(rows(), since=SINCE, until=UNTIL)
    assert [r.key for r in pool] == ["CHG-3", "CHG-4", "CHG-6"]
    lines = population_csv(pool).splitlines()
    assert lines[0].startswith("source,key,title,change_type,status,implemented_at")
    assert [line.split(",")[1] for line in lines[1:]] == ["CHG-3", "CHG-4", "CHG-6"]
    assert lines[3].endswith(",unauthorized")


def test_the_same_seed_draws_the_same_sample_and_exceptions_can_be_added() -> None:
    pool = [make_row(key=f"CHG-{i:03d}", implemented_at=T0 + DAY) for i in range(50)]
    pool.append(make_row(key="CHG-999", implemented_at=T0 + DAY, separation_of_duties="no"))
    first, _ = draw(pool, size=5, seed="audit-2026", all_exceptions=False)
    again, _ = draw(list(pool), size=5, seed="audit-2026", all_exceptions=False)
    other, _ = draw(pool, size=5, seed="other", all_exceptions=False)
    assert len(first) == 5 and first == again != other
    assert first == sorted(first)  # population order
    with_exceptions, added = draw(pool, size=5, seed="audit-2026", all_exceptions=True)
    assert added == ["jira-prod:CHG-999"] and set(with_exceptions) == {*first, *added}
    everything, _ = draw(pool, size=500, seed="x", all_exceptions=False)
    assert len(everything) == len(pool)


def pack(tmp_path: Path) -> Path:
    out = tmp_path / "pack"
    (out / "src" / "CHG-1").mkdir(parents=True)
    (out / "population.csv").write_text("source,key\nsrc,CHG-1\n")
    (out / "src" / "CHG-1" / "change.json").write_text('{"key": "CHG-1"}\n')
    sign_pack(out, KEY)
    return out


def test_a_signed_pack_verifies_with_its_key(tmp_path: Path) -> None:
    out = pack(tmp_path)
    assert verify_pack(out, KEY) == 2
    assert (out / "MANIFEST.sig").read_text().startswith("hmac-sha256 ")


@pytest.mark.parametrize(
    ("tamper", "needle"),
    [
        (lambda out: (out / "src/CHG-1/change.json").write_text('{"key": "CHG-2"}\n'), "edited"),
        (lambda out: (out / "extra.txt").write_text("x"), "added after signing"),
        (lambda out: (out / "population.csv").unlink(), "missing"),
        (
            lambda out: (out / "MANIFEST.sha256").write_text(
                (out / "MANIFEST.sha256").read_text().replace("population", "populatio")
            ),
            "signature does not match",
        ),
    ],
)
def test_a_tampered_pack_fails_naming_the_problem(tmp_path: Path, tamper, needle: str) -> None:
    out = pack(tmp_path)
    tamper(out)
    with pytest.raises(PackInvalid, match=needle):
        verify_pack(out, KEY)


def test_another_key_fails(tmp_path: Path) -> None:
    out = pack(tmp_path)
    with pytest.raises(PackInvalid, match="signature does not match"):
        verify_pack(out, KEY + "x")
    with pytest.raises(PackInvalid, match="not a signed sample pack"):
        verify_pack(tmp_path, KEY)


def test_a_change_closed_without_times_counts_when_created_in_the_period() -> None:
    closed = make_row(key="CHG-8", implemented_at=None, implemented_end=None, created=T0 + DAY)
    earlier = closed._replace(key="CHG-9", created=T0 - timedelta(days=3))
    assert [r.key for r in population([closed, earlier], since=SINCE, until=UNTIL)] == ["CHG-8"]

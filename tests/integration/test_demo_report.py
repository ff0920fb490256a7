"""The demo's compliance report: every seeded change of both systems, exactly the planted
exceptions, and an HTML report that a real headless Chromium renders with its charts."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from sync_helpers import once_per_session

from connector.sandbox.jira.seed import project_of
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import Planted

SEEDS = 200  # the demo's defaults: 200 tickets per system, random seed 0 (ServiceNow: 1)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo run for the whole test session: its outputs are only read, and the test
    processes (pytest-xdist) that get tests of this module share it instead of each running it."""
    return once_per_session(tmp_path_factory, "demo", run_demo) / "out"


def run_demo(work: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--out", str(work / "out")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    (work / "out" / "stdout.txt").write_text(result.stdout, encoding="utf-8")


def jira_keys() -> dict[int, str]:
    counters: dict[str, int] = {}
    keys = {}
    for s in generate(SEEDS, random_seed=0):
        project = project_of(s)
        counters[project] = counters.get(project, 0) + 1
        keys[s.index] = f"{project}-{counters[project]}"
    return keys


def refs(planted: Planted) -> list[str]:
    jira = next(s.index for s in generate(SEEDS, random_seed=0) if s.planted is planted)
    snow = next(s.index for s in generate(SEEDS, random_seed=1) if s.planted is planted)
    return [f"sandbox-jira:{jira_keys()[jira]}", f"sandbox-servicenow:CHG{30001 + snow:07d}"]


def test_the_report_lists_every_seeded_change_and_exactly_the_planted_exceptions(
    demo_out: Path,
) -> None:
    report = json.loads((demo_out / "report.json").read_text())
    listed = {(c["source"], c["key"]) for c in report["changes"]}
    seeded = {("sandbox-jira", k) for k in jira_keys().values()}
    seeded |= {("sandbox-servicenow", f"CHG{30001 + i:07d}") for i in range(SEEDS)}
    assert listed == seeded
    assert report["summary"]["exceptions"] == {
        "unauthorized": refs(Planted.UNAUTHORIZED),
        "self-approved": refs(Planted.SELF_APPROVAL),
        "missing rollback plan": [],
        "freeze violation": refs(Planted.FREEZE_VIOLATION),
        "overdue emergency review": refs(Planted.OVERDUE_EMERGENCY_REVIEW),
        "late notice": [],
        "unauthorized deployment": ["deploy:api:jenkins-ledger-export-7"],
    }


def test_the_demo_gates_four_deploys_allow_hold_then_allow_freeze_deny_unauthorized(
    demo_out: Path,
) -> None:
    allowed, held, frozen, rogue = json.loads((demo_out / "deploys.json").read_text())
    assert allowed["verdict"] == "allow" and "is approved by" in allowed["reason"]
    assert held["verdict"] == "wait, then allow"
    assert "waiting for approval" in held["reason"] and "is approved by" in held["reason"]
    assert allowed["change"] != held["change"]
    assert frozen["verdict"] == "deny" and "'Year-end freeze' is in force" in frozen["reason"]
    assert frozen["change"] == refs(Planted.FREEZE_VIOLATION)[0].split(":", 1)[1]
    assert rogue == {
        "deploy": "ledger-export to production, reported by POST /deployments",
        "change": "-",
        "verdict": "unauthorized",
        "reason": "No approved change for service 'ledger-export' in environment 'production'.",
    }
    # The table is printed, and the report's Deployments section holds the three deploys made.
    stdout = (demo_out / "stdout.txt").read_text()
    assert "Deployment gates" in stdout and "wait, then allow" in stdout
    deployments = json.loads((demo_out / "report.json").read_text())["summary"]["deployments"]
    by_ref = {d["reference"]: d for d in deployments}
    assert set(by_ref) == {"demo-allowed", "demo-held", "jenkins-ledger-export-7"}
    assert by_ref["demo-allowed"]["change"] == f"sandbox-jira:{allowed['change']}"
    assert by_ref["demo-held"]["change"] == f"sandbox-jira:{held['change']}"
    assert [d["verdict"] for d in by_ref.values() if not d["unauthorized"]] == ["allow", "allow"]
    assert by_ref["jenkins-ledger-export-7"]["unauthorized"] is True
    assert "## Deployments" in (demo_out / "report.md").read_text()


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("no Chromium: install Debian's chromium (README, 'Two commands')")


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the inflated scanlines of a PNG (enough to see it is not blank)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_html_report_renders_in_headless_chromium_with_its_charts(
    demo_out: Path, tmp_path: Path
) -> None:
    page = (demo_out / "report.html").resolve()
    browser = chromium()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") == 5 and dom.stdout.count("<rect") > 20
    assert "CHG-1" in dom.stdout and "CHG0030001" in dom.stdout
    shot = tmp_path / "report.png"
    run = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 1600)
    # A blank or error page is one or two colours; charts, tables and text are many.
    assert len(set(pixels)) > 50


def test_the_report_states_its_period_population_and_policy(demo_out: Path) -> None:
    summary = json.loads((demo_out / "report.json").read_text())["summary"]
    assert summary["period"]["first_day"] == "2000-01-01"
    assert summary["period"]["last_day"] == "2099-12-31"
    assert summary["period"]["time_zone"] == summary["time_zone"] == "UTC"
    context = summary["context"]
    assert context["population"] == {
        "in_scope": 2 * SEEDS,
        "stored": 2 * SEEDS,
        "deleted": 0,
        "skipped": {},
        "out_of_scope": {},
    }
    assert len(context["policy"]["digest"]) == 64
    assert [f["name"] for f in context["policy"]["freezes"]] == ["Year-end freeze"]
    assert context["policy"]["required"]["emergency"][-2:] == [
        "justification",
        "emergency_approver",
    ]
    assert [s["name"] for s in context["sources"]] == ["sandbox-jira", "sandbox-servicenow"]
    assert all(s["last_sync"] for s in context["sources"])
    assert context["audit"]["intact"] is True and len(context["audit"]["head_hash"]) == 64
    assert context["tool_version"].startswith("change-connector ")
    md = (demo_out / "report.md").read_text()
    assert md.startswith("# Change report 2000-01-01 to 2099-12-31 (UTC)")
    for needle in ("## Population", "## Policy in force", "## Sources", "## Audit chain"):
        assert needle in md


def test_emergency_changes_carry_their_approval_and_the_boards_review_apart(
    demo_out: Path,
) -> None:
    changes = json.loads((demo_out / "report.json").read_text())["changes"]
    closed = [c for c in changes if c["change_type"] == "emergency" and c["status"] == "closed"]
    assert closed
    for c in closed:
        named = [a for a in c["approvers"] if a["group"] == "Emergency"]
        board = [a for a in c["approvers"] if a["group"] == "CAB"]
        assert named and board, c["key"]
        assert c["approved_at"] == named[0]["decided_at"]
        assert c["board_reviewed_at"] == board[0]["decided_at"]
        assert c["approved_at"] < c["implemented_at"] < c["board_reviewed_at"]
        assert c["approved_before_implemented"] == "yes"
        assert c["hours_implementation_to_board_review"] > 0
    overdue = {r.split(":", 1)[1] for r in refs(Planted.OVERDUE_EMERGENCY_REVIEW)}
    for c in changes:
        if c["key"] in overdue:
            assert c["approved_before_implemented"] == "yes" and c["board_reviewed_at"] is None
            assert c["emergency_review"] == "overdue"


EXCEPTION_RULES = {
    Planted.UNAUTHORIZED: ("unauthorized", "unauthorized"),
    Planted.SELF_APPROVAL: ("self-approved", "separation-of-duties"),
    Planted.FREEZE_VIOLATION: ("freeze violation", "freeze"),
    Planted.OVERDUE_EMERGENCY_REVIEW: ("overdue emergency review", "emergency-review-overdue"),
}
LAYOUT = """(() => {
  const width = window.innerWidth;
  const cells = [...document.querySelectorAll('details.change > summary > .c')];
  return {scroll: document.documentElement.scrollWidth, width,
          cut: cells.filter(c => c.getBoundingClientRect().right > width + 0.5).length,
          cells: cells.length};
})()"""
EXPAND = """(key => {
  const row = [...document.querySelectorAll('details.change')]
    .find(d => d.querySelector('summary .key').textContent.trim() === key);
  row.querySelector('summary').click();
  return [...row.querySelectorAll('.evidence li.exception')].map(li => {
    li.scrollIntoView({block: 'center'});
    const r = li.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + 4, r.top + r.height / 2);
    const visible = getComputedStyle(li).visibility === 'visible';
    return {text: li.textContent, open: row.open, left: r.left, right: r.right,
            height: r.height, shown: li.contains(hit) && visible};
  });
})"""


def planted_messages(demo_out: Path) -> dict[str, tuple[str, str]]:
    """Per planted exception's key: (exception kind, the message its finding gives, or the
    report's own words when no finding stands, e.g. a change the worker sent back)."""
    from connector.reports.summary import EXCEPTION_TEXT

    changes = json.loads((demo_out / "report.json").read_text())["changes"]
    by_ref = {f"{c['source']}:{c['key']}": c for c in changes}
    out = {}
    for planted, (kind, rule) in EXCEPTION_RULES.items():
        for ref in refs(planted):
            found = [m for m in by_ref[ref]["finding_messages"] if m.startswith(rule + ": ")]
            message = found[0][len(rule) + 2 :] if found else EXCEPTION_TEXT[kind]
            out[ref.split(":", 1)[1]] = (kind, message)
    return out


def test_at_1366_px_nothing_scrolls_sideways_and_each_exception_reads_when_expanded(
    demo_out: Path, tmp_path: Path
) -> None:
    from cdp import Browser

    planted = planted_messages(demo_out)
    with Browser(width=1366, height=900) as browser:
        browser.open((demo_out / "report.html").resolve().as_uri())
        layout = browser.eval(LAYOUT)
        assert layout["cells"] == 8 * 2 * SEEDS  # every key column of every row is there
        assert layout["scroll"] <= layout["width"] == 1366 and layout["cut"] == 0
        for key, (kind, message) in planted.items():
            shown = browser.eval(f"{EXPAND}({json.dumps(key)})")
            assert shown and all(item["open"] for item in shown), key
            mine = [item for item in shown if item["text"] == f"{kind}: {message}"]
            assert mine, (key, [item["text"] for item in shown])
            for item in mine:
                assert item["shown"] and item["height"] > 0, key
                assert item["left"] >= 0 and item["right"] <= 1366, key
        layout = browser.eval(LAYOUT)
        assert layout["scroll"] <= 1366 and layout["cut"] == 0
        shot = tmp_path / "expanded.png"
        browser.screenshot(shot)
        # The filters: only the changes with an exception, then only one source's.
        visible = "[...document.querySelectorAll('details.change')].filter(d => d.offsetHeight)"
        browser.eval("document.querySelector('label[for=\"f-x\"]').click()")
        flagged = browser.eval(f"{visible}.map(d => d.querySelector('.key').textContent.trim())")
        assert set(planted) <= set(flagged) and len(flagged) < 2 * SEEDS
        assert browser.eval(f"{visible}.every(d => d.classList.contains('x'))")
        browser.eval("document.querySelector('label[for=\"f-x\"]').click()")
        browser.eval("document.querySelector('label[for=\"f-s0\"]').click()")
        sources = browser.eval(f"{visible}.map(d => d.querySelector('.src').textContent)")
        assert sources and set(sources) == {"sandbox-jira"} and len(sources) == SEEDS
        browser.screenshot(shot)
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1366, 900) and len(set(pixels)) > 50


def test_the_pdf_has_page_numbers_and_every_planted_exception(
    demo_out: Path, tmp_path: Path
) -> None:
    from contextlib import closing
    from datetime import date

    from connector.commands.demo import demo_policy, mappings_dir
    from connector.reports.build import build_report
    from connector.reports.pdf import to_pdf
    from connector.reports.summary import day_span
    from connector.settings import Settings, SourceSettings
    from connector.store import Store

    def source(kind: str, mapping: str) -> SourceSettings:
        return SourceSettings(
            kind=kind,  # type: ignore[arg-type]
            url="https://sandbox.invalid",
            username="connector",
            token="unused",  # type: ignore[arg-type]
            mapping=mappings_dir() / mapping,
        )

    settings = Settings(
        sources={
            "sandbox-jira": source("jira", "jira-default.toml"),
            "sandbox-servicenow": source("servicenow", "servicenow-default.toml"),
        },
        policy=demo_policy(),
    )
    span = day_span(date(2000, 1, 1), date(2099, 12, 31), settings.policy.zone())
    assert span is not None
    with closing(Store.open(f"sqlite:///{demo_out / 'change-connector.db'}")) as store:
        rows, summary = build_report(settings, store, since=span[0], until=span[1])
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(to_pdf(rows, summary))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(next(x for x in info.stdout.splitlines() if x.startswith("Pages:")).split()[1])
    assert pages > 2
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    per_page = text.split("\f")
    for n, page in enumerate(per_page[:pages], 1):
        assert f"page {n} of {pages}" in page, n
        assert "Change report 2000-01-01 to 2099-12-31 (UTC)" in page, n
    for planted in EXCEPTION_RULES:
        for ref in refs(planted):
            assert ref.split(":", 1)[1] in text, ref
    flat = " ".join(text.split())
    for key, (_, message) in planted_messages(demo_out).items():
        assert " ".join(message.split())[:40] in flat, key

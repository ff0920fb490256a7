"""Compliance reports over a store the worker filled from the sandbox (SQLite and PostgreSQL):
one row per change across both systems, the planted exceptions found, every format, the
auditor's sample pack, the audit chain's verify / export, and the report API's bearer token.

Filling a store takes a sandbox and a sync: the tests that only read it (or put back what they
alter) share one per backend and module (`shared`); those that change it get their own
(`filled`)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from store_fixtures import BACKENDS, database, fixture_store_url  # noqa: F401
from sync_helpers import cli, cli_process, running_sandbox, write_config
from test_webhooks import Running

from connector.commands.demo import demo_policy, sandbox_sources
from connector.core.model import Audience
from connector.core.notes.guidance import Route
from connector.reports.answers import basis, stored_prefix
from connector.reports.build import build_report
from connector.reports.model import ReportRow
from connector.reports.render import render
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import Planted
from connector.serve.worker import Worker
from connector.settings import ServerSettings, Settings
from connector.store import Store

COUNT = 30
RANDOM_SEED = 9
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2028, 1, 1, tzinfo=UTC)


@pytest.fixture
def filled(tmp_path: Path, store_url: str) -> Iterator[tuple[Settings, Store, Path]]:
    """A store synced once from a fresh sandbox with the demo policy, and a config file."""
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        settings = Settings(sources=sandbox_sources(box.info), policy=demo_policy())
        config = write_config(tmp_path / "config.toml", box.info, store_url=store_url)
        with closing(Store.open(store_url)) as store:
            with closing(Worker(settings, store, name="report-test").open()) as worker:
                worker.sync_once()
            yield settings, store, config


@pytest.fixture(scope="module", params=BACKENDS)
def shared_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with database(request.param, tmp_path_factory.mktemp("reports-db")) as url:
        yield url


@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, shared_url: str
) -> Iterator[tuple[Settings, Store, Sandbox]]:
    """`filled`, once per backend for the module's tests that leave the store as they found it."""
    tmp = tmp_path_factory.mktemp("reports")
    with running_sandbox(tmp, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        settings = Settings(sources=sandbox_sources(box.info), policy=demo_policy())
        with closing(Store.open(shared_url)) as store:
            with closing(Worker(settings, store, name="report-test").open()) as worker:
                worker.sync_once()
            yield settings, store, box


@pytest.fixture
def shared(
    synced: tuple[Settings, Store, Sandbox], shared_url: str, tmp_path: Path
) -> tuple[Settings, Store, Path]:
    """The shared store, with a config file (and data directory) of the test's own."""
    settings, store, box = synced
    return settings, store, write_config(tmp_path / "config.toml", box.info, store_url=shared_url)


def csv_table(text: str) -> list[dict[str, str]]:
    """The CSV report's rows, its `#` context lines above the header left out."""
    body = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(body)))


def planted_refs(kind: Planted) -> set[str]:
    jira = [s for s in generate(COUNT, random_seed=RANDOM_SEED) if s.planted is kind]
    snow = [s for s in generate(COUNT, random_seed=RANDOM_SEED + 1) if s.planted is kind]
    assert len(jira) == len(snow) == 1
    return {
        f"sandbox-jira:CHG-{jira[0].index + 1}",
        f"sandbox-servicenow:CHG{30000 + snow[0].index + 1:07d}",
    }


def test_one_row_per_change_across_both_systems_with_the_exceptions(
    shared: tuple[Settings, Store, Path],
) -> None:
    settings, store, _ = shared
    rows, summary = build_report(settings, store, since=SINCE, until=UNTIL)
    assert summary.total == len(rows) == 2 * COUNT
    assert summary.by_source == {"sandbox-jira": COUNT, "sandbox-servicenow": COUNT}
    by_ref = {f"{r.source}:{r.key}": r for r in rows}
    for ref in planted_refs(Planted.SELF_APPROVAL):
        assert by_ref[ref].separation_of_duties == "no"
        assert ref in summary.exceptions["self-approved"]
    for ref in planted_refs(Planted.UNAUTHORIZED):
        assert by_ref[ref].approved_before_implemented == "no"
        assert ref in summary.exceptions["unauthorized"]
    for ref in planted_refs(Planted.OVERDUE_EMERGENCY_REVIEW):
        assert by_ref[ref].emergency_review == "overdue"
        assert ref in summary.exceptions["overdue emergency review"]
    for ref in planted_refs(Planted.FREEZE_VIOLATION):
        assert by_ref[ref].freeze_findings == ("Year-end freeze",)
    a, b = sorted(planted_refs(Planted.CONFLICT_A)), sorted(planted_refs(Planted.CONFLICT_B))
    for one, other in zip(a + b, b + a, strict=True):
        assert other.split(":")[1] in by_ref[one].conflicts_with
    # Every change that was implemented has an answer; those never implemented have none.
    for r in rows:
        implemented = r.status in ("implementing", "review", "closed")
        assert (r.approved_before_implemented != "n.a.") == (
            implemented or r.implemented_at is not None
        ), r.key
    # Only part of the period: fewer rows, a consistent subset.
    narrow, _ = build_report(
        settings, store, since=SINCE, until=UNTIL, sources=["sandbox-jira"], types=["emergency"]
    )
    assert narrow and all(
        r.source == "sandbox-jira" and r.change_type == "emergency" for r in narrow
    )


def test_the_report_reads_the_answers_stored_at_sync_while_they_hold(
    filled: tuple[Settings, Store, Path], store_url: str
) -> None:
    settings, store, _ = filled
    now = datetime.now(UTC)
    rows, summary = build_report(settings, store, since=SINCE, until=UNTIL, clock=lambda: now)
    stored = [
        a for name in settings.sources for a in store.report_answers(name, updated_since=SINCE)
    ]
    assert len(stored) == len(rows) and all(report for _, report, _ in stored)

    # The same rows when every change is evaluated again (no stored answers).
    engine = create_engine(store_url)
    with engine.begin() as conn:
        saved = dict(conn.execute(text("SELECT key, report FROM changes")).all())
        conn.execute(text("UPDATE changes SET report = NULL"))
    again, summary_again = build_report(
        settings, store, since=SINCE, until=UNTIL, clock=lambda: now
    )
    assert again == rows and summary_again == summary

    # Stored answers are what the report shows: a title written into them appears...
    marked = rows[0].key
    with engine.begin() as conn:
        for key, report in saved.items():
            mine = report.replace(f'"{rows[0].title}"', '"from the stored answers"', 1)
            conn.execute(
                text("UPDATE changes SET report = :r WHERE key = :k"),
                {"r": mine if key == marked else report, "k": key},
            )
    shown, _ = build_report(settings, store, since=SINCE, until=UNTIL, clock=lambda: now)
    assert next(r.title for r in shown if r.key == marked) == "from the stored answers"
    # ... but not under another policy, nor once a recheck of the change has fallen due.
    other = settings.model_copy(
        update={"policy": settings.policy.model_copy(update={"disabled_rules": ("freeze",)})}
    )
    fresh, _ = build_report(other, store, since=SINCE, until=UNTIL, clock=lambda: now)
    assert next(r.title for r in fresh if r.key == marked) == rows[0].title
    assert not any(r.freeze_findings for r in fresh)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE changes SET recheck_at = :at WHERE key = :k"),
            {
                "at": "2026-01-02T00:00:00.000000+00:00"
                if engine.dialect.name == "sqlite"
                else datetime(2026, 1, 2, tzinfo=UTC),
                "k": marked,
            },
        )
    due, _ = build_report(settings, store, since=SINCE, until=UNTIL, clock=lambda: now)
    assert next(r.title for r in due if r.key == marked) == rows[0].title
    engine.dispose()


def test_answers_missing_or_taken_under_other_routes_are_taken_again_at_the_next_sync(
    filled: tuple[Settings, Store, Path], store_url: str
) -> None:
    settings, store, _ = filled
    # An older version stored no answers; then the release-note routes change.
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE changes SET report = NULL"))
        conn.execute(text("UPDATE policy_state SET answers_basis = NULL"))
    route = Route(customer_facing=True, audiences=(Audience.ACCOUNT_OWNERS,))
    routed = settings.model_copy(
        update={"release_notes": settings.release_notes.model_copy(update={"routes": (route,)})}
    )
    for current in (settings, routed):
        with closing(Worker(current, store, name="report-test").open()) as worker:
            first, second = worker.sync_once(), worker.sync_once()
        # Every stored change has its answers taken again, once, and nothing reaches a ticket.
        assert sum(s.reevaluated for s in first) >= 2 * COUNT
        assert sum(s.reevaluated for s in second) == 0
        assert sum(s.planned + s.written for s in first + second) == 0
        under = basis(current.policy, current.release_notes)
        for name in current.sources:
            assert store.answers_basis(name) == under
            stored = list(store.report_answers(name, updated_since=SINCE))
            assert len(stored) == COUNT
            assert all((report or "").startswith(stored_prefix(under)) for _, report, _ in stored)

    # The report under the new routes reads what the sync stored.
    now = datetime.now(UTC)
    rows, _ = build_report(routed, store, since=SINCE, until=UNTIL, clock=lambda: now)
    marked = rows[0]
    with engine.begin() as conn:
        report = conn.execute(
            text("SELECT report FROM changes WHERE key = :k"), {"k": marked.key}
        ).scalar_one()
        conn.execute(
            text("UPDATE changes SET report = :r WHERE key = :k"),
            {"r": report.replace(f'"{marked.title}"', '"as stored"', 1), "k": marked.key},
        )
    shown, _ = build_report(routed, store, since=SINCE, until=UNTIL, clock=lambda: now)
    assert next(r.title for r in shown if r.key == marked.key) == "as stored"
    engine.dispose()


def test_every_format_keeps_every_change(shared: tuple[Settings, Store, Path]) -> None:
    settings, store, _ = shared
    rows, summary = build_report(settings, store, since=SINCE, until=UNTIL)
    table = csv_table(render("csv", rows, summary))
    assert len(table) == len(rows)
    assert set(table[0]) == set(ReportRow._fields)
    data = json.loads(render("json", rows, summary))
    assert len(data["changes"]) == len(rows) and data["summary"]["total"] == len(rows)
    md = render("md", rows, summary)
    assert "## Exceptions" in md and all(r.key in md for r in rows)
    html = render("html", rows, summary)
    assert html.count("<svg") == 5 and "<script" not in html and all(r.key in html for r in rows)


def test_report_command_writes_the_file_and_rejects_bad_input(
    shared: tuple[Settings, Store, Path], tmp_path: Path
) -> None:
    _, _, config = shared
    out = tmp_path / "report.csv"
    c = ("--config", str(config))
    result = cli("report", "--since", "2026-01-01", "--format", "csv", "--out", str(out), *c)
    assert result.returncode == 0, result.stderr
    assert len(csv_table(out.read_text())) == 2 * COUNT
    pdf = tmp_path / "report.pdf"
    printed = cli("report", "--since", "2026-01-01", "--format", "pdf", "--out", str(pdf), *c)
    assert printed.returncode == 0, printed.stderr
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "page 1 of " in text and "Change report 2026-01-01 to " in text
    no_out = cli("report", "--since", "2026-01-01", "--format", "pdf", *c)
    assert no_out.returncode == 2 and "--out" in no_out.stderr
    for args, needle in (
        (("--since", "yesterday"), "--since"),
        (("--since", "2026-01-01", "--format", "docx"), "--format"),
        (("--since", "2026-05-01", "--until", "2026-04-01"), "--until"),
        (("--since", "2026-01-01", "--source", "nope"), "nope"),
        ((), "--since"),
    ):
        bad = cli("report", *args, *c)
        assert bad.returncode == 2, (args, bad.stderr)
        line = bad.stderr.strip()
        assert len(line.splitlines()) == 1 and needle in line and "Traceback" not in line


PACK_KEY = "pack-key-for-the-tests"


def test_sample_pack_is_reproducible_signed_and_drawn_from_implemented_changes(
    shared: tuple[Settings, Store, Path], tmp_path: Path
) -> None:
    settings, store, config = shared
    config.write_text(config.read_text() + f'\n[reports]\npack_key = "{PACK_KEY}"\n')
    packs = []
    for name, seed in (("a", "audit-2026"), ("b", "audit-2026"), ("c", "other")):
        out = tmp_path / name
        args = ("--since", "2026-01-01", "--size", "5", "--seed", seed, "--out", str(out))
        run = cli_process if name == "a" else cli  # one through a new interpreter
        result = run("report", "sample", *args, "--config", str(config))
        assert result.returncode == 0, result.stderr
        packs.append(out)
    facts = [json.loads((p / "sample.json").read_text()) for p in packs]
    sampled = [f["sampled"] for f in facts]
    assert len(sampled[0]) == 5 and sampled[0] == sampled[1] != sampled[2]
    assert facts[0]["seed"] == "audit-2026" and facts[0]["period"]["first_day"] == "2026-01-01"
    for name in ("MANIFEST.sha256", "MANIFEST.sig", "population.csv", "index.md"):
        assert (packs[0] / name).read_bytes() == (packs[1] / name).read_bytes(), name
    # The population: exactly the changes implemented (or closed) in the period.
    end = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(0), UTC)
    rows, _ = build_report(settings, store, since=SINCE, until=end)

    def inside(at: datetime | None) -> bool:
        return at is not None and SINCE <= at < end

    implemented = {
        f"{r.source}:{r.key}"
        for r in rows
        if inside(r.implemented_at) or (r.status == "closed" and inside(r.implemented_end))
    }
    listed = list(csv.DictReader(io.StringIO((packs[0] / "population.csv").read_text())))
    refs = [f"{x['source']}:{x['key']}" for x in listed]
    assert refs == sorted(refs) and set(refs) == implemented
    assert facts[0]["population"] == len(implemented) and set(sampled[0]) <= implemented
    assert all(x["implemented_at"] or x["status"] == "closed" for x in listed)
    assert not {r.key for r in rows if r.status in ("draft", "awaiting-info")} & {
        x["key"] for x in listed
    }
    index = json.loads((packs[0] / "index.json").read_text())
    assert [item["change"] for item in index] == sampled[0]
    for item in index:
        whys = [what["why"] for what in item["files"].values()]
        assert len(set(whys)) == len(whys)  # each file says what it evidences
        folder = packs[0] / next(iter(item["files"])).rsplit("/", 1)[0]
        sheet = (folder / "evidence.html").read_text()
        assert item["change"].split(":", 1)[1] in sheet and "Who approved, when" in sheet
        links = [json.loads(x) for x in (folder / "audit.jsonl").read_text().splitlines()]
        assert links and all(len(link["hash"]) == 64 for link in links)
    assert "CC8.1" in (packs[0] / "index.md").read_text()
    # verify-pack: intact; an edited file fails; another key fails.
    c = ("--config", str(config))
    ok = cli_process("report", "verify-pack", str(packs[0]), *c)
    assert ok.returncode == 0 and "sample pack intact" in ok.stdout, ok.stderr
    edited = next(packs[1].rglob("report-row.json"))
    edited.write_text(edited.read_text().replace('"yes"', '"no"', 1))
    bad = cli("report", "verify-pack", str(packs[1]), *c)
    assert bad.returncode == 1 and "edited" in bad.stderr and len(bad.stderr.splitlines()) == 1
    config.write_text(config.read_text().replace(PACK_KEY, "another-key-entirely"))
    wrong = cli("report", "verify-pack", str(packs[0]), *c)
    assert wrong.returncode == 1 and "signature does not match" in wrong.stderr
    # Every exception of the population joins the sample with --all-exceptions.
    out = tmp_path / "d"
    args = ("--since", "2026-01-01", "--size", "1", "--all-exceptions", "--out", str(out))
    assert cli("report", "sample", *args, *c).returncode == 0
    flagged = {f"{x['source']}:{x['key']}" for x in listed if x["exceptions"]}
    assert flagged and flagged <= set(json.loads((out / "sample.json").read_text())["sampled"])


def test_a_deleted_ticket_leaves_the_rows_and_is_counted(
    filled: tuple[Settings, Store, Path],
) -> None:
    settings, store, _ = filled
    rows, _ = build_report(settings, store, since=SINCE, until=UNTIL)
    gone = rows[0]
    assert store.mark_deleted(source=gone.source, change_key=gone.key, reason="404", actor="t")
    for key in ("CHG-901", "CHG-902", "CHG-901"):  # as the pipeline records a skip, per poll
        store.append_audit(
            source="sandbox-jira",
            ticket_key=None,
            event="ticket.skipped",
            actor="worker",
            detail={"reason": f"{key}: status (status): 'Limbo' is not mapped"},
        )
    after, summary = build_report(
        settings, store, since=SINCE, until=datetime.now(UTC) + timedelta(days=1)
    )
    assert summary.context is not None
    assert summary.context.population.skipped == {"status (status): 'Limbo' is not mapped": 2}
    after, summary = build_report(settings, store, since=SINCE, until=UNTIL)
    assert len(after) == len(rows) - 1 and gone.key not in {
        r.key for r in after if r.source == gone.source
    }
    assert summary.context is not None
    population = summary.context.population
    assert (population.in_scope, population.stored, population.deleted) == (
        2 * COUNT - 1,
        2 * COUNT,
        1,
    )
    narrow, summary = build_report(settings, store, since=SINCE, until=UNTIL, types=["emergency"])
    assert summary.context is not None
    assert summary.context.population.out_of_scope["other types (--type)"] == (
        2 * COUNT - 1 - len(narrow)
    )


def test_audit_verify_and_export(shared: tuple[Settings, Store, Path], tmp_path: Path) -> None:
    _, store, config = shared
    c = ("--config", str(config))
    ok = cli_process("audit", "verify", *c)
    assert ok.returncode == 0 and "audit chain intact" in ok.stdout
    out = tmp_path / "audit.jsonl"
    assert cli_process("audit", "export", "--out", str(out), *c).returncode == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    head = store.audit_head()
    assert head is not None
    assert lines[-1] == {"chain_head": {"seq": head.seq, "hash": head.hash}, "links": head.seq}
    assert [x["seq"] for x in lines[:-1]] == list(range(1, head.seq + 1))


TAMPER = {
    "at": "at = '2001-01-01T00:00:00.000000+00:00'",
    "source": "source = 'elsewhere'",
    "ticket_key": "ticket_key = 'CHG-999'",
    "event": "event = 'ticket.deleted'",
    "actor": "actor = 'someone else'",
    "detail": 'detail = \'{"fingerprint":"0"}\'',
    "prev_hash": f"prev_hash = '{'f' * 64}'",
    "hash": f"hash = '{'e' * 64}'",
}


@pytest.mark.parametrize("column", sorted(TAMPER))
def test_altering_any_field_of_an_audit_row_breaks_the_chain_at_that_row(
    shared: tuple[Settings, Store, Path], shared_url: str, column: str
) -> None:
    _, store, config = shared
    head = store.audit_head()
    assert head is not None and head.seq > 10
    seq = head.seq // 2
    engine = create_engine(shared_url)
    change = TAMPER[column]
    if column == "at" and engine.dialect.name == "postgresql":
        change = "at = at - interval '1 second'"
    row = text(f"SELECT {', '.join(TAMPER)} FROM audit WHERE seq = {seq}")
    with engine.begin() as conn:
        original = conn.execute(row).one()._asdict()
        conn.execute(text(f"UPDATE audit SET {change} WHERE seq = {seq}"))
    try:
        broken = cli("audit", "verify", "--config", str(config))
    finally:  # the store is shared: the row as it was, for the tests after this one
        put_back = ", ".join(f"{name} = :{name}" for name in TAMPER)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE audit SET {put_back} WHERE seq = {seq}"), original)
            assert conn.execute(row).one()._asdict() == original
        engine.dispose()
    assert broken.returncode == 1
    assert broken.stderr.strip() == (
        f"error: audit chain broken at link {seq}: it or the one before was altered"
    )


def test_report_api_needs_the_bearer_token(shared: tuple[Settings, Store, Path]) -> None:
    from test_webhooks import serve_app, stop

    from connector.serve.metrics import Metrics
    from connector.serve.webhooks import build_app

    settings, store, _ = shared

    def served(**server: object) -> Running:
        update = {"server": ServerSettings(insecure_unsigned_webhooks=True, **server)}
        return serve_app(build_app(settings.model_copy(update=update), store, Metrics()))

    def get(running: Running, query: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{running.url}/reports/changes?{query}", headers=headers, timeout=60)

    period = "since=2026-01-01&until=2027-12-31"
    running = served(report_token=SecretStr("s3cret-token"))
    try:
        assert get(running, period).status_code == 401
        assert get(running, period, "wrong").status_code == 401
        response = get(running, period, "s3cret-token")
        assert response.status_code == 200
        assert len(response.json()["changes"]) == 2 * COUNT
        as_csv = get(running, period + "&format=csv", "s3cret-token")
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert get(running, "since=soon", "s3cret-token").status_code == 400
    finally:
        stop(running)
    running = served()
    try:
        assert get(running, period, "s3cret-token").status_code == 403
    finally:
        stop(running)

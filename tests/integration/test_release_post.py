"""`release-notes` against the sandbox as people run it: an unknown release is an error that
says which releases there are; `--post` puts the full release note on the release's own tickets
when the config says how they are found, else a short note naming the full one on each change
of the release; a second `--post` writes nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from policy_helpers import JiraOps, ServiceNowOps
from sync_helpers import cli, reset_log, running_sandbox, ticket_writes, write_config

from connector.commands.worker_commands import open_store
from connector.core.model import Change
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.settings import load_settings

COUNT = 60
RANDOM_SEED = 34  # ServiceNow is seeded with RANDOM_SEED + 1
RELEASE = "2026.11.2"  # 20 changes across both systems with COUNT and RANDOM_SEED
MARKER = f"change-connector:release:{RELEASE}:engineering"
SHORT = 400  # characters: a short note, whatever the release holds


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Sandbox, Path, JiraOps, ServiceNowOps]]:
    with running_sandbox(tmp_path, seed_count=COUNT, random_seed=RANDOM_SEED) as box:
        config = write_config(
            tmp_path / "config.toml", box.info, store_url=f"sqlite:///{tmp_path / 'store.db'}"
        )
        jira = JiraOps(box, generate(COUNT, random_seed=RANDOM_SEED))
        snow = ServiceNowOps(box, generate(COUNT, random_seed=RANDOM_SEED + 1))
        yield box, config, jira, snow


def sync(config: Path) -> None:
    result = cli("sync", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr


def post(config: Path) -> subprocess.CompletedProcess[str]:
    result = cli(
        "release-notes", "--release", RELEASE, "--audience", "engineering", "--post",
        "--config", str(config),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def test_an_unknown_release_is_one_line_naming_the_releases_there_are(
    synced: tuple[Sandbox, Path, JiraOps, ServiceNowOps],
) -> None:
    _, config, jira, _ = synced
    sync(config)
    for extra in ((), ("--notice",), ("--post",)):
        result = cli("release-notes", "--release", "nope", *extra, "--config", str(config))
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line, line
        assert line.startswith("error: --release: no stored change is in release 'nope'"), line
        assert "releases: " in line and "2026.11" in line, line
        assert result.stdout == ""
    known = sorted({s.release for s in jira.seeds if s.release}, reverse=True)[0]
    assert cli("release-notes", "--release", known, "--config", str(config)).returncode == 0
    # A source that does not exist is named as such (not "no stored change"), also for --since.
    for which in (("--release", known), ("--since", "2026-01-01")):
        result = cli("release-notes", *which, "--source", "nope", "--config", str(config))
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith("error: --source: no source named 'nope'"), result.stderr


def test_without_release_tickets_each_change_gets_a_short_note_once(
    synced: tuple[Sandbox, Path, JiraOps, ServiceNowOps],
) -> None:
    sandbox, config, jira, snow = synced
    sync(config)
    first = post(config)
    assert "20 write(s)" in first.stdout
    in_release = [(ops, s) for ops in (jira, snow) for s in ops.seeds if s.release == RELEASE]
    assert len(in_release) == 20
    for ops, seed in in_release:
        [(_, body, public)] = ops.marked(seed, MARKER)
        assert not public  # engineering's note is internal
        assert len(body) < SHORT, (ops.key(seed), len(body))
        shown = body.replace("\\", "")  # as read: Jira wiki shows an escaped "-" as "-"
        assert f"release-notes --release {RELEASE} --audience engineering" in shown, body
        others = {s.title for _, s in in_release if s.title != seed.title}
        assert not any(title in body for title in others)  # names the note, not its content
    reset_log(sandbox.info)
    again = post(config)
    assert "0 write(s)" in again.stdout
    assert ticket_writes(sandbox.info) == []


def test_release_tickets_found_by_title_get_the_full_note_and_nothing_else(
    synced: tuple[Sandbox, Path, JiraOps, ServiceNowOps],
) -> None:
    sandbox, config, jira, snow = synced
    with config.open("a") as f:
        f.write('\n[release_notes]\nrelease_ticket_title = "Release {release}"\n')
    jira_release = [s for s in jira.seeds if s.release == RELEASE]
    own, *rest = jira_release
    jira.edit_title(own, f"Release {RELEASE}", user="admin")
    sync(config)
    first = post(config)
    snow_release = [s for s in snow.seeds if s.release == RELEASE]
    # Jira: the release's own ticket only; ServiceNow has none, so short notes there.
    assert f"{1 + len(snow_release)} write(s)" in first.stdout
    [(_, full, _)] = jira.marked(own, MARKER)
    shown = full.replace("\\", "").replace("\u200b", "")  # as read: without wiki escapes
    assert len(full) > SHORT and all(s.title in shown for s in rest), shown[:2000]
    assert all(jira.marked(s, MARKER) == [] for s in rest)
    for seed in snow_release:
        [(_, body, _)] = snow.marked(seed, MARKER)
        assert len(body) < SHORT
    reset_log(sandbox.info)
    assert "0 write(s)" in post(config).stdout
    assert ticket_writes(sandbox.info) == []


def test_post_neither_retries_nor_reports_another_writes_failure(
    synced: tuple[Sandbox, Path, JiraOps, ServiceNowOps],
) -> None:
    _, config, _, _ = synced
    with config.open("a") as f:
        f.write('\n[policy.approvals]\ncab_members = ["carol"]\n')
    sync(config)
    with closing(open_store(load_settings(config), appends=False)) as store:
        changes = [Change.from_json(row.data) for row in store.iter_stored("sandbox-jira")]
    key = sorted(c.key for c in changes if c.status.value == "awaiting-approval")[0]
    c = ("--source", "sandbox-jira", "--config", str(config))
    assert cli("cab", "decide", key, "--decision", "more-info", "--by", "carol", *c).returncode == 0
    reject = cli("cab", "decide", key, "--decision", "reject", "--by", "carol", *c)
    assert reject.returncode == 1, reject.stdout + reject.stderr  # a failed transition, pending
    posted = post(config)  # exit 0: that failure is not the release note's
    assert key not in posted.stderr and "failed" not in posted.stdout + posted.stderr


def test_a_release_ticket_outside_the_scope_is_one_line_saying_so(
    synced: tuple[Sandbox, Path, JiraOps, ServiceNowOps],
) -> None:
    _, config, _, _ = synced
    with config.open("a") as f:
        f.write('\n[release_notes]\nrelease_tickets = { "sandbox-jira" = "OPS-100" }\n')
    sync(config)
    result = cli("release-notes", "--release", RELEASE, "--post", "--config", str(config))
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    assert "release_notes.release_tickets.sandbox-jira: OPS-100 is not in the store" in line
    assert "scope" in line

"""Release notes and change communications against the sandbox over HTTPS, on Jira and
ServiceNow, on SQLite and PostgreSQL: the change's note is posted once on approval, never again
on a re-sync, edited (Jira) or superseded (ServiceNow journal) when the change changes; a release
gets one note per audience with the right changes; a late notice is reported as late."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policy_helpers import JiraOps, Ops, pick, seeded_fixtures
from store_fixtures import fixture_store_url  # noqa: F401
from sync_helpers import cli, reset_log, running_sandbox, ticket_writes, write_config

from connector.commands.demo import sandbox_sources
from connector.core.model import Audience
from connector.core.policy import PolicySettings
from connector.reports.build import build_report
from connector.sandbox import Sandbox
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange
from connector.serve.worker import Worker
from connector.settings import Settings
from connector.store import Store

COUNT = 120
RANDOM_SEED = 34  # ServiceNow is seeded with RANDOM_SEED + 1
RELEASE_COUNT = 60
RELEASE = "2026.11.2"  # 20 changes across both systems with RELEASE_COUNT and RANDOM_SEED
NOTE = "change-connector:release-note"


sandbox, ops = seeded_fixtures(count=COUNT, random_seed=RANDOM_SEED)


def settings_for(sandbox: Sandbox, names: list[str], **policy: object) -> Settings:
    sources = {n: s for n, s in sandbox_sources(sandbox.info).items() if n in names}
    return Settings(sources=sources, policy=PolicySettings.model_validate(policy))


def customer_facing_waiting(ops: Ops) -> SeedChange:
    """A complete minor change waiting for its approver, made customer-facing by its requester."""
    seed = pick(
        ops.seeds,
        lambda s: (
            s.change_type == "normal"
            and s.change_class == "minor"
            and s.status == "awaiting-approval"
            and s.planned_start is not None
            and bool(s.rollback_plan and s.affected_systems and s.security_level)
            and (s.security_level == "none" or bool(s.infosec_categories))
        ),
    )[0]
    ops.make_customer_facing(seed, user=seed.requester)
    return seed


def test_approval_posts_the_notes_once_and_an_edit_updates_them(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    seed = customer_facing_waiting(ops)
    settings = settings_for(sandbox, [ops.name])
    with (
        closing(Store.open(store_url)) as store,
        closing(Worker(settings, store, name="notes-test").open()) as worker,
    ):
        worker.sync_once()
        assert ops.marked(seed, NOTE) == []  # not approved yet: nothing to tell
        ops.approve(seed, group="Change approvers")
        worker.sync_once()
        notes = ops.marked(seed, NOTE)
        assert sorted(public for _, _, public in notes) == [False, True]  # internal + public
        internal = next(body for _, body, public in notes if not public)
        public = next(body for _, body, public in notes if public)
        # Ticket text is escaped for the markup (a Jira wiki "-" becomes "\-"): compare without.
        internal, public = internal.replace("\\", ""), public.replace("\\", "")
        assert seed.rollback_plan in internal and seed.rollback_plan not in public
        reset_log(sandbox.info)
        worker.sync_once()
        assert ticket_writes(sandbox.info) == []
        ops.edit_title(seed, "Renamed: rotate the signing keys", user=seed.requester)
        worker.sync_once()
        after = ops.marked(seed, NOTE)
        if isinstance(ops, JiraOps):  # the same two comments, edited in place
            assert sorted(ref for ref, _, _ in after) == sorted(ref for ref, _, _ in notes)
        else:  # an append-only journal: one new entry per note
            assert len(after) == 4
        assert all("Renamed: rotate the signing keys" in body for _, body, _ in after[-2:])


def routed(seed: SeedChange) -> set[Audience]:
    """The documented default routing, from the seed itself."""
    out = {Audience.ENGINEERING, *(Audience(a) for a in seed.audiences)}
    if seed.infosec_categories or seed.security_level in ("medium", "high"):
        out.add(Audience.SECURITY)
    if {"security-configuration", "user-access"} & set(seed.infosec_categories):
        out.add(Audience.ADMINS)
    if "system-usage" in seed.infosec_categories:
        out.add(Audience.ACCOUNT_OWNERS)
    return out


def sections(note: str) -> list[tuple[str, str]]:
    """A plain-text release note cut into change sections: (title, text)."""
    lines = note.splitlines()
    heads = [i - 1 for i, line in enumerate(lines) if line and set(line) == {"-"} and i > 0]
    out = []
    for n, start in enumerate(heads):
        end = heads[n + 1] if n + 1 < len(heads) else len(lines)
        out.append((lines[start], "\n".join(lines[start:end])))
    return out


def test_a_release_gets_one_note_per_audience_with_the_right_changes(
    store_url: str, tmp_path: Path
) -> None:
    seeds = [
        *(s for s in generate(RELEASE_COUNT, random_seed=RANDOM_SEED) if s.release == RELEASE),
        *(s for s in generate(RELEASE_COUNT, random_seed=RANDOM_SEED + 1) if s.release == RELEASE),
    ]
    assert len(seeds) == 20
    with running_sandbox(tmp_path, seed_count=RELEASE_COUNT, random_seed=RANDOM_SEED) as box:
        release_notes_of(box, seeds, store_url, tmp_path)


def release_notes_of(
    sandbox: Sandbox, seeds: list[SeedChange], store_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.toml", sandbox.info, store_url=store_url)
    assert cli("sync", "--once", "--config", str(config)).returncode == 0
    titles = [s.title for s in seeds]
    for audience in Audience:
        out = tmp_path / f"{audience.value}.txt"
        args = ("--release", RELEASE, "--audience", audience.value, "--format", "txt")
        result = cli("release-notes", *args, "--out", str(out), "--config", str(config))
        assert result.returncode == 0, result.stderr
        found = sections(out.read_text())
        expected = [s for s in seeds if audience in routed(s)]
        assert sorted(t for t, _ in found) == sorted(s.title for s in expected), audience
        text = dict(found)
        for s in expected:
            if s.infosec_categories and titles.count(s.title) == 1:
                assert "Security impact" in text[s.title], (audience, s.title)
    # The what's new feed: the security audience's items, each with what it means for users.
    feed_file = tmp_path / "whats-new.json"
    args = ("--release", RELEASE, "--audience", "security", "--format", "json")
    assert (
        cli("release-notes", *args, "--out", str(feed_file), "--config", str(config)).returncode
        == 0
    )
    feed = json.loads(feed_file.read_text())
    assert feed["audience"] == "security"
    assert sorted(i["title"] for i in feed["items"]) == sorted(
        s.title for s in seeds if Audience.SECURITY in routed(s)
    )
    for item in feed["items"]:
        assert "url" not in item and "rollback_plan" not in item  # not for customers' eyes
        assert all(c["meaning"] and c["do"] for c in item["security"]["categories"])
    # Posting the engineering note to every ticket of the release: once, whatever the repeats.
    post = ("release-notes", "--release", RELEASE, "--audience", "engineering", "--post")
    first = cli(*post, "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert "20 write(s)" in first.stdout
    again = cli(*post, "--config", str(config))
    assert again.returncode == 0 and "0 write(s)" in again.stdout


def test_a_customer_facing_change_told_too_late_is_reported(
    sandbox: Sandbox, ops: Ops, store_url: str
) -> None:
    seed = customer_facing_waiting(ops)
    assert seed.planned_start is not None
    # Notice periods longer than the time left before the planned start: telling now is late.
    days = (seed.planned_start - datetime.now(UTC)) / timedelta(days=1) + 30
    notice = {a: max(days, 1.0) for a in ("all-users", "admins")}
    settings = settings_for(sandbox, [ops.name], notice_days=notice)
    with (
        closing(Store.open(store_url)) as store,
        closing(Worker(settings, store, name="notice-test").open()) as worker,
    ):
        ops.approve(seed, group="Change approvers")
        worker.sync_once()
        assert any(public for _, _, public in ops.marked(seed, NOTE))
        since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
        rows, summary = build_report(settings, store, since=since, until=until)
        row = next(r for r in rows if r.key == ops.key(seed))
        assert row.notice_met == "no" and row.release_notes_posted == "yes"
        assert f"{ops.name}:{ops.key(seed)}" in summary.exceptions["late notice"]

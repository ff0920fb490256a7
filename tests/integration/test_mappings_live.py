"""`mappings init --live` then `mappings check --live` on a sandbox whose seed the test does not
know in advance, as the least-privileged integration users of both systems: the written files
load, pass the live check, and a value map that does not fit the site fails it in one line."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from test_mappings_cli import JIRA_DEFAULT, ROOT, run, write_config

from connector.core.mapping import load_mapping
from connector.sandbox import Sandbox, SandboxOptions
from connector.store import Store

SEED_COUNT = 40
SNOW_DEFAULT = ROOT / "mappings/servicenow-default.toml"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    print(f"sandbox random seed: {seed}")  # shown with a failure, to replay it
    sandbox = Sandbox(
        SandboxOptions(
            data_dir=tmp_path_factory.mktemp("sandbox-seeded"),
            seed_count=SEED_COUNT,
            random_seed=seed,
        )
    )
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def written(seeded: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The mapping files `init --live` writes for both sources of the sandbox."""
    where = tmp_path_factory.mktemp("init")
    placeholder = where / "none.toml"
    config = write_config(where / "init.toml", seeded.info, placeholder, placeholder)
    out = []
    for source in ("sandbox-jira", "sandbox-servicenow"):
        path = where / f"{source}.toml"
        result = run(
            "mappings", "init", "--live", str(config), "--source", source, "--out", str(path)
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith(f"{path}: written (")
        out.append(path)
    return out[0], out[1]


def check(
    sandbox: Sandbox, tmp_path: Path, jira: Path, snow: Path
) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path / "check.toml", sandbox.info, jira, snow)
    return run("mappings", "check", "--live", str(config))


def test_written_mappings_load_and_pass_the_live_check(
    seeded: Sandbox, written: tuple[Path, Path], tmp_path: Path
) -> None:
    jira, snow = written
    jira_mapping, snow_mapping = load_mapping(jira), load_mapping(snow)
    # JSM's change fields, named by name, with JSM's own option values placed.
    impact = jira_mapping.fields["change_class"]
    assert impact.named and impact.named[0].name == "Impact"
    assert impact.map is not None and impact.map["Extensive / Widespread"] == "major"
    assert snow_mapping.fields["risk"].map == {
        "1": "very-high",
        "2": "high",
        "3": "moderate",
        "4": "low",
    }
    assert snow_mapping.actions["approved"].state == "-3"
    result = check(seeded, tmp_path, jira, snow)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sandbox-jira: {jira}: matches the site" in result.stdout
    assert f"sandbox-servicenow: {snow}: matches the site" in result.stdout
    assert seeded.info.users["connector"]["token"] not in result.stdout + result.stderr


def test_a_value_map_that_does_not_fit_the_site_fails_in_one_line_each(
    seeded: Sandbox, written: tuple[Path, Path], tmp_path: Path
) -> None:
    jira, snow = written
    bad_jira, bad_snow = tmp_path / "jira.toml", tmp_path / "snow.toml"
    bad_jira.write_text(
        jira.read_text().replace('"Significant / Large" = "major"', '"Major" = "major"')
    )
    bad_snow.write_text(snow.read_text().replace('"4" = "low"', '"5" = "low"'))
    result = check(seeded, tmp_path, bad_jira, bad_snow)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("error: ")]
    assert len(errors) == 2
    assert errors[0].startswith(
        f"{bad_jira}: fields.change_class.map.Major: 'Major' is not an option of Impact ("
    )
    assert "(site has: 'Extensive / Widespread', 'Significant / Large'" in errors[0]
    assert errors[1].startswith(f"{bad_snow}: fields.risk.map.5: '5' is not an option of Risk")
    assert (
        f"{bad_jira}: fields.change_class.map: warning: option 'Significant / Large' of Impact"
        in result.stdout
    )
    assert f"{bad_snow}: fields.risk.map: warning: option '4' (Low) of Risk" in result.stdout


def test_a_value_map_that_misses_one_of_the_sites_options_fails_naming_file_and_key(
    seeded: Sandbox, written: tuple[Path, Path], tmp_path: Path
) -> None:
    jira, snow = written
    short_jira, short_snow = tmp_path / "jira.toml", tmp_path / "snow.toml"
    entry_jira, entry_snow = '"Significant / Large" = "major"\n', '"4" = "low"  # Low\n'
    assert entry_jira in jira.read_text() and entry_snow in snow.read_text()
    short_jira.write_text(jira.read_text().replace(entry_jira, ""))
    short_snow.write_text(snow.read_text().replace(entry_snow, ""))
    result = check(seeded, tmp_path, short_jira, short_snow)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    warned = [line for line in result.stdout.splitlines() if "has no entry" in line]
    assert len(warned) == 2
    assert warned[0].startswith(
        f"{short_jira}: fields.change_class.map: warning: option 'Significant / Large' of Impact"
    )
    assert warned[1].startswith(f"{short_snow}: fields.risk.map: warning: option '4' (Low) of Risk")
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'check.toml'}: 2 value(s) of the live sites without an entry: "
        "tickets with them would be skipped"
    ]


def test_written_mappings_give_the_shipped_mappings_findings_and_sync_with_no_skip(
    seeded: Sandbox, written: tuple[Path, Path], tmp_path: Path
) -> None:
    """The issue's acceptance path: init -> check -> plan and sync as the integration user."""
    jira, snow = written
    plans = {}
    for name, files in {"written": (jira, snow), "shipped": (JIRA_DEFAULT, SNOW_DEFAULT)}.items():
        config = with_store(write_config(tmp_path / f"{name}.toml", seeded.info, *files), tmp_path)
        result = run("plan", "--config", str(config), "--json")
        assert result.returncode == 0, result.stderr
        plans[name] = {
            (entry["source"], entry["key"]): [(f["rule"], f["message"]) for f in entry["findings"]]
            for entry in json.loads(result.stdout)
        }
    seeded_count = SEED_COUNT  # every seeded change of each system, none skipped
    assert plans["written"].keys() == plans["shipped"].keys()
    for source in ("sandbox-jira", "sandbox-servicenow"):
        assert sum(1 for s, _ in plans["written"] if s == source) == seeded_count
    assert plans["written"] == plans["shipped"]
    assert sum(len(found) for found in plans["written"].values()) > 0

    # The written files, then the shipped ones unedited (fields by name), each synced into a
    # store of its own by a real `sync --once`: every seeded change stored, none skipped.
    for name, files in {"sync": (jira, snow), "sync-shipped": (JIRA_DEFAULT, SNOW_DEFAULT)}.items():
        config = with_store(write_config(tmp_path / f"{name}.toml", seeded.info, *files), tmp_path)
        result = run("sync", "--once", "--config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        with closing(Store.open(f"sqlite:///{tmp_path / f'{name}.db'}")) as store:
            for source in ("sandbox-jira", "sandbox-servicenow"):
                assert store.count_changes(source) == seeded_count, name
                assert store.skipped_tickets(source) == [], name
                failed = [
                    e
                    for key in store.change_keys(source)
                    for e in store.ledger_for(source=source, ticket_key=key)
                    if e.state == "failed"
                ]
                assert failed == [], name


def with_store(config: Path, where: Path) -> Path:
    """The config with its own SQLite store beside it (named after the config)."""
    store = where / f"{config.stem}.db"
    config.write_text(f'store_url = "sqlite:///{store}"\n' + config.read_text())
    return config

"""`mappings init --live` then `mappings check --live` on a sandbox whose seed the test does not
know in advance, as the least-privileged integration users of both systems: the written files
load, pass the live check, and a value map that does not fit the site fails it in one line."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_mappings_cli import run, write_config

from connector.mapping import load_mapping
from connector.sandbox import Sandbox, SandboxOptions


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    print(f"sandbox random seed: {seed}")  # shown with a failure, to replay it
    sandbox = Sandbox(
        SandboxOptions(
            data_dir=tmp_path_factory.mktemp("sandbox-seeded"), seed_count=40, random_seed=seed
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

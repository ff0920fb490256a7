"""`change-connector mappings check`: valid files pass; a wrong one fails in one line; --live
compares a mapping with the sandbox's real field list and workflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from connector.sandbox import Sandbox, SandboxInfo

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_default_mappings_are_valid() -> None:
    result = run("mappings", "check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert any("jira-default.toml: ok" in line for line in lines)
    assert any("servicenow-default.toml: ok" in line for line in lines)


def test_wrong_mapping_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (ROOT / "mappings/jira-default.toml")
        .read_text()
        .replace("[fields.change_class]", "[fields.change_klass]")
    )
    result = run("mappings", "check", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"{bad}: fields.change_klass: unknown Change attribute 'change_klass' "
        "(did you mean 'change_class'?)"
    )


def write_config(path: Path, info: SandboxInfo, jira_mapping: Path, snow_mapping: Path) -> Path:
    user = info.users["connector"]
    path.write_text(f"""
[sources.sandbox-jira]
kind = "jira"
url = "{info.jira_url}"
username = "{user["jira_user"]}"
token = "{user["token"]}"
mapping = "{jira_mapping}"
ca_bundle = "{info.ca_bundle}"

[sources.sandbox-servicenow]
kind = "servicenow"
url = "{info.servicenow_url}"
username = "{user["servicenow_user"]}"
token = "{user["token"]}"
mapping = "{snow_mapping}"
ca_bundle = "{info.ca_bundle}"
""")
    return path


def test_live_check_passes_for_defaults_and_names_what_is_missing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    info = sandbox.info
    jira_default = ROOT / "mappings/jira-default.toml"
    snow_default = ROOT / "mappings/servicenow-default.toml"
    good = write_config(tmp_path / "good.toml", info, jira_default, snow_default)
    result = run("mappings", "check", str(jira_default), "--live", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("every mapped field and transition exists") == 2
    assert info.users["connector"]["token"] not in result.stdout + result.stderr

    jira_bad = tmp_path / "jira-bad.toml"
    jira_bad.write_text(
        jira_default.read_text()
        .replace('{ name = "Rollback plan" }', '"customfield_19999"')
        .replace('transition = "Approve"', 'transition = "Rubber-stamp"')
    )
    snow_bad = tmp_path / "snow-bad.toml"
    snow_bad.write_text(snow_default.read_text().replace('"backout_plan"', '"u_backout"'))
    bad = write_config(tmp_path / "bad.toml", info, jira_bad, snow_bad)
    result = run("mappings", "check", str(jira_bad), "--live", str(bad))
    assert result.returncode == 2
    assert "unknown field customfield_19999" in result.stdout
    assert "no transition named 'Rubber-stamp'" in result.stdout
    assert "unknown column u_backout" in result.stdout
    assert "Traceback" not in result.stderr

    misnamed = tmp_path / "jira-misnamed.toml"
    misnamed.write_text(
        jira_default.read_text().replace('{ name = "Test plan" }', '{ name = "Test plans" }')
    )
    config = write_config(tmp_path / "misnamed.toml", info, misnamed, snow_default)
    result = run("mappings", "check", str(misnamed), "--live", str(config))
    assert result.returncode == 2
    assert "fields.test_plan.source: the site has no field named 'Test plans'" in result.stdout
    assert "Traceback" not in result.stderr

"""`change-connector mappings check`: valid files pass; a wrong one fails in one line; --live
compares a mapping with the sandbox's real field list and workflow."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from sync_helpers import cli

from connector.core.mapping import load_mapping
from connector.sandbox import Sandbox, SandboxInfo

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`change-connector ARGS` in `cwd`, forked from the test process's command server."""
    return cli(*args, timeout=120, cwd=cwd)


def run_process(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`change-connector ARGS` in `cwd` through a new interpreter (`python -m connector`)."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_default_mappings_are_valid() -> None:
    result = run_process("mappings", "check")
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


def write_config(
    path: Path, info: SandboxInfo, jira_mapping: Path | None, snow_mapping: Path | None = None
) -> Path:
    """A config with a source per given mapping, as the least-privileged `connector` user."""
    user = info.users["connector"]
    text = ""
    if jira_mapping is not None:
        text += f"""
[sources.sandbox-jira]
kind = "jira"
url = "{info.jira_url}"
username = "{user["jira_user"]}"
token = "{user["token"]}"
mapping = "{jira_mapping}"
ca_bundle = "{info.ca_bundle}"
"""
    if snow_mapping is not None:
        text += f"""
[sources.sandbox-servicenow]
kind = "servicenow"
url = "{info.servicenow_url}"
username = "{user["servicenow_user"]}"
token = "{user["token"]}"
mapping = "{snow_mapping}"
ca_bundle = "{info.ca_bundle}"
"""
    path.write_text(text)
    return path


JIRA_DEFAULT = ROOT / "mappings/jira-default.toml"


def test_live_check_of_the_default_jira_mapping_checks_only_the_configured_file(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    # A broken file in ./mappings is not what the config names: --live leaves it alone.
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "broken.toml").write_text("system = 'jira'\n[fields.x]\n")
    config = write_config(tmp_path / "good.toml", sandbox.info, JIRA_DEFAULT)
    result = run("mappings", "check", "--live", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sandbox-jira: {JIRA_DEFAULT}: matches the site" in result.stdout
    assert "broken.toml" not in result.stdout + result.stderr
    assert sandbox.info.users["connector"]["token"] not in result.stdout + result.stderr


def test_live_check_names_file_and_key_of_each_problem(tmp_path: Path, sandbox: Sandbox) -> None:
    bad = tmp_path / "jira-bad.toml"
    bad.write_text(
        JIRA_DEFAULT.read_text()
        .replace('{ name = "Rollback plan" }', '"customfield_19999"')
        .replace('{ name = "Test plan" }', '{ name = "Test plans" }')
        .replace('transition = "Approve"', 'transition = "Rubber-stamp"')
        .replace('transition = "Schedule"', 'transition = "Submit for approval"')
        .replace('"Draft" = "draft"', '"Drafted" = "draft"')
        .replace(
            '[fields.standard_template]\nsource = { name = "Standard change template" }',
            '[fields.standard_template]\nsource = "created"',
        )
    )
    config = write_config(tmp_path / "bad.toml", sandbox.info, bad)
    result = run("mappings", "check", "--live", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("error: ")]
    assert sorted(line.split(": ")[1] for line in errors) == [
        "actions.approved.transition",
        "actions.scheduled.transition",
        "fields.rollback_plan.source",
        "fields.standard_template.converter",
        "fields.test_plan.source",
        "status.map.Drafted",
    ]
    assert all(line.startswith(f"{bad}: ") for line in errors)
    text = "\n".join(errors)
    assert "no field 'customfield_19999' on the site" in text
    assert "field name 'Test plans': no field of that name on the site" in text
    assert "no transition named 'Rubber-stamp' (site has: " in text
    assert (
        "transition 'Submit for approval' is not offered from 'Approved', where the worker "
        "uses 'scheduled'" in text
    )
    assert "converter 'text' cannot read Created (created), a datetime field" in text
    assert "no status 'Drafted' in the workflow (site has: Draft, " in text
    assert f"{bad}: status.map: warning: status 'Draft' (new) has no entry" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {config}: 6 mapping error(s) against the live sites"
    )


def test_init_live_writes_a_jira_mapping_that_passes_the_live_check_and_loads(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = write_config(tmp_path / "init.toml", sandbox.info, JIRA_DEFAULT)
    out = tmp_path / "jira-site.toml"
    result = run(
        "mappings", "init", "--live", str(config), "--source", "sandbox-jira", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"{out}: written (jira, ")
    text = out.read_text()
    assert 'source = { name = "Change risk" }' in text
    assert 'transition = "Request information"' in text
    mapping = load_mapping(out)
    assert mapping.scope.projects == ("CHG", "OPS")
    assert mapping.status is not None and mapping.status.map["Declined"] == "rejected"
    assert mapping.actions["rejected"].fields == {"resolution": {"name": "Declined"}}

    written = write_config(tmp_path / "written.toml", sandbox.info, out)
    result = run("mappings", "check", "--live", str(written))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sandbox-jira: {out}: matches the site" in result.stdout


def test_init_to_standard_output_writes_nothing_else(tmp_path: Path, sandbox: Sandbox) -> None:
    config = write_config(tmp_path / "init.toml", sandbox.info, JIRA_DEFAULT)
    result = run_process("mappings", "init", "--live", str(config), "--source", "sandbox-jira")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["system"] == "jira"
    assert result.stderr.startswith("<stdout>: written (jira, ")


def offline_config(tmp_path: Path) -> Path:
    """A config whose sources are never reached: argument errors come first."""
    config = tmp_path / "offline.toml"
    config.write_text(f"""
[sources.acme-jira]
kind = "jira"
url = "https://127.0.0.1:9"
username = "u"
token = "t"
mapping = "{JIRA_DEFAULT}"
""")
    return config


def test_init_with_an_unknown_source_is_one_line(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    result = run("mappings", "init", "--live", str(config), "--source", "nope")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"error: {config}: --source: no source named 'nope' (known: acme-jira)"
    )


def test_init_with_an_unwritable_out_is_one_line(tmp_path: Path) -> None:
    config = offline_config(tmp_path)
    args = ("mappings", "init", "--live", str(config), "--source", "acme-jira", "--out")
    missing = tmp_path / "no-such-dir" / "m.toml"
    result = run(*args, str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {missing}: --out: no such directory {str(missing.parent)!r}"
    )
    existing = tmp_path / "m.toml"
    existing.write_text("keep me")
    result = run(*args, str(existing))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {existing}: --out: exists already (add --force to replace it)"
    )
    assert existing.read_text() == "keep me"
    result = run(*args, str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path}: --out: is a directory, not a file"
    assert "Traceback" not in result.stderr


def test_a_site_that_refuses_the_user_is_one_line_and_the_others_are_still_checked(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox.info, JIRA_DEFAULT)
    text = config.read_text()
    refused = text.replace("[sources.sandbox-jira]", "[sources.refused-jira]").replace(
        f'token = "{sandbox.info.users["connector"]["token"]}"', 'token = "not-the-token-4f1c"'
    )
    config.write_text(refused + text)
    result = run("mappings", "check", "--live", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith(
        f"{JIRA_DEFAULT}: (site): refused-jira: read serverInfo: Jira refused the credentials"
    )
    assert f"sandbox-jira: {JIRA_DEFAULT}: matches the site" in result.stdout
    assert "not-the-token-4f1c" not in result.stdout + result.stderr

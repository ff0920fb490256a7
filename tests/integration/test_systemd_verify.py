"""systemd's own checks of deploy/systemd/change-connector.service: `systemd-analyze verify`
(syntax, known keys, the command exists) and the offline security exposure. The tool comes with
Debian's systemd package (`make systemd` installs it); only without it is this skipped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/systemd/change-connector.service"
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def installed_unit(tmp_path: Path) -> Path:
    """The unit as installed here: ExecStart names this environment's `change-connector`
    (verify checks the command exists), everything else as shipped."""
    command = Path(sys.executable).parent / "change-connector"
    assert command.exists(), command
    text = UNIT.read_text()
    shipped = "/opt/change-connector/bin/change-connector"
    assert shipped in text
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(shipped, str(command)))
    return unit


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    result = analyze("verify", str(installed_unit(tmp_path)))
    # Unknown or misspelt keys are only warnings ("... ignoring"): any output is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_reports_a_misspelt_key(tmp_path: Path) -> None:
    """The check above can fail: verify does complain about a key systemd does not know."""
    unit = installed_unit(tmp_path)
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    result = analyze("verify", str(unit))
    assert "Unknown key 'ProtectHomes'" in result.stdout + result.stderr


def test_security_exposure_is_low(tmp_path: Path) -> None:
    result = analyze("security", "--offline=yes", str(installed_unit(tmp_path)))
    assert result.returncode == 0, result.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert found, result.stdout[-500:]
    assert float(found.group(1)) <= 2.0, found.group(0)  # systemd rates below 2.0 "OK"

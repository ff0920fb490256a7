"""`change-connector gate`: durations, exit codes and the one-line errors before any store."""

from __future__ import annotations

import pytest

from connector.commands.cli import main
from connector.commands.gate_command import EXIT, parse_timeout
from connector.core.deploy import Verdict
from connector.core.errors import ConfigError


def test_durations() -> None:
    assert parse_timeout("30m") == 1800
    assert parse_timeout("90s") == 90
    assert parse_timeout("2h") == 7200
    assert parse_timeout("45") == 45
    assert parse_timeout("0.5s") == 0.5
    for bad in ("", "0", "10d", "-5m", "m"):
        with pytest.raises(ConfigError, match=r"--timeout: .* is not a duration like 30m"):
            parse_timeout(bad)


def test_exit_codes() -> None:
    assert EXIT == {Verdict.ALLOW: 0, Verdict.DENY: 1, Verdict.WAIT: 75}


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["gate", "--env", "production", "--service", "checkout", "--timeout", "soon"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "error: --timeout: 'soon' is not a duration like 30m, 90s or 2h\n"
    )
    with pytest.raises(SystemExit) as exc:
        main(["gate", "--env", " ", "--service", "checkout"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: --env: required\n"

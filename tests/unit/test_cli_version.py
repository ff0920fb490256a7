"""`change-connector --version`: the version on one line, exit 0, as the `version` command."""

from __future__ import annotations

import pytest

from connector import __version__
from connector.commands.cli import main


@pytest.mark.parametrize("argv", [["--version"], ["version"]])
def test_version_is_printed_alone(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main(argv)  # returns: exit code 0
    out, err = capsys.readouterr()
    assert out == f"{__version__}\n" and err == ""

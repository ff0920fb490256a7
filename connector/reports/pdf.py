"""The PDF report: the HTML report with every change's evidence expanded, printed by headless
Chromium (a real browser's print, no PDF writer of our own). The page's `@page` rules give each
page its header (the period, when it was generated) and its number ("page 3 of 12"); Chromium's
own header and footer are switched off.

Chromium is found on PATH (Debian: `apt-get install chromium`; `make chromium` installs it) or
named by the CHANGE_CONNECTOR_CHROMIUM environment variable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from connector.core.errors import ConfigError, ConnectorError
from connector.reports.html import to_html
from connector.reports.model import ReportRow
from connector.reports.summary import Summary

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_SECONDS = 600


class PrintFailed(ConnectorError):
    """Chromium did not print the report."""


def chromium() -> str:
    """The browser to print with."""
    named = os.environ.get("CHANGE_CONNECTOR_CHROMIUM", "")
    if named:
        return named
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    raise ConfigError(
        "--format pdf: no Chromium found (install Debian's chromium, or set "
        "CHANGE_CONNECTOR_CHROMIUM to the browser's path)"
    )


def to_pdf(rows: Sequence[ReportRow], summary: Summary) -> bytes:
    page = to_html(rows, summary, printable=True)
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="change-report-") as tmp:
        source, target = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(page, encoding="utf-8")
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-breakpad",
            "--disable-crash-reporter",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            source.as_uri(),
        ]
        try:
            done = _print(command)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PrintFailed(f"--format pdf: {browser} did not print: {exc}") from None
        if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PrintFailed(f"--format pdf: {browser} exited {done.returncode}: {last}")
        return target.read_bytes()


def _print(command: list[str]) -> subprocess.CompletedProcess[str]:
    """The browser run in a process group of its own, ended whole afterwards: a child process
    left behind would keep writing into the profile while the temporary folder is removed."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(command, process.returncode, out, err)

"""Compliance reports: read the store only, never the ticket systems.

`build.build_report` evaluates the period's stored changes into the view model of `model.py`;
`render` writes it as CSV, JSON, Markdown or one self-contained HTML file; `sample` writes the
auditor's sample pack with each change's evidence chain.
"""

from __future__ import annotations

from connector.reports.build import build_report
from connector.reports.model import ReportRow, Summary
from connector.reports.render import FORMATS, render

__all__ = ["FORMATS", "ReportRow", "Summary", "build_report", "render"]

"""Compliance reports: read the store only, never the ticket systems.

`answers` is what the worker stores with each evaluation for reports; `build.build_report`
reads the period's stored changes into the rows of `model.py` and the summary of `summary.py`,
with the report's context (`context.py`, read by `gather.py`: population, policy, sources, audit
chain) and delivery metrics (`metrics.py`); `render.render` writes it as CSV, JSON, Markdown or
one self-contained HTML file (`html.py`, `table.py`, `charts.py`), `pdf.py` prints that HTML
through headless Chromium; `sample` writes the auditor's sample pack (`sheet.py` evidence
sheets, `pack.py` signed manifest). Import from the modules: the pipeline imports `answers`, and
`build` imports the pipeline.
"""

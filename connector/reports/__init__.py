"""Compliance reports: read the store only, never the ticket systems.

`answers` is what the worker stores with each evaluation for reports; `build.build_report`
reads the period's stored changes into the view model of `model.py`; `render.render` writes it
as CSV, JSON, Markdown or one self-contained HTML file; `sample` writes the auditor's sample pack
with each change's evidence chain. Import from the modules: the pipeline imports `answers`, and
`build` imports the pipeline.
"""

"""Release notes and change communications, per audience, in the markup of where they go.

Formats: `wiki` (Jira wiki markup, REST v2), `adf` (Atlassian Document Format, REST v3, as a
JSON string), `md` (Markdown), `html` (an HTML fragment), `txt` (plain text for e-mail) and `sn`
(ServiceNow journal text). The text formats are Jinja2 templates, `change.<fmt>.j2` and
`release.<fmt>.j2` in `templates/`; a `templates` directory passed in overrides them file by
file. ADF is built in Python (`adf.py`) from the same views.

Escaping is not the template's job: each format has its own Environment whose `finalize` runs
every `{{ value }}` that is not `markupsafe.Markup` through that format's escaper (`escape.py`);
HTML uses autoescaping. `|safe` marks a template's own markup. One consequence: in the non-HTML
formats the output of a macro or `{% set %}` block is a plain string and would be escaped
again, so the built-in templates share markup through `{% include %}` instead.

Templates get a `ChangeView` (`note`), never the `Change`; its `internal` part exists only for
the internal audience (engineering).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from connector.core.model import Audience, Change
from connector.core.notes import adf
from connector.core.notes.escape import ESCAPERS, clean, markdown
from connector.core.notes.escape import html as escape_html
from connector.core.notes.guidance import AUDIENCE_LABELS, Route, route
from connector.core.notes.view import VIEW_TYPES, is_internal, safe_url, view

__all__ = ["FORMATS", "NO_CHANGES", "is_internal", "render_change", "render_release"]

FORMATS = ("wiki", "adf", "md", "html", "txt", "sn")
TEMPLATES = Path(__file__).parent / "templates"
NO_CHANGES = "No changes for this audience."


def render_change(
    change: Change, *, audience: Audience, fmt: str, templates: Path | None = None
) -> str:
    """The note on one change, for one audience."""
    _check(fmt)
    note = view(change, audience)
    if fmt == "adf":
        return json.dumps(adf.change_doc(note), ensure_ascii=False)
    return _render(fmt, templates, "change", note=note, audience=_audience(audience), depth=1)


def render_release(
    name: str,
    changes: Sequence[Change],
    *,
    audience: Audience,
    fmt: str,
    templates: Path | None = None,
    routes: Sequence[Route] = (),
) -> str:
    """The note on a release, for one audience: each change routed to it (the default routing
    plus `routes`), in the order given; an explicit "no changes" when none is."""
    _check(fmt)
    notes = [view(c, audience) for c in changes if audience in route(c, routes)]
    title = release_title(name, audience)
    if fmt == "adf":
        return json.dumps(adf.release_doc(title, notes, NO_CHANGES), ensure_ascii=False)
    return _render(
        fmt,
        templates,
        "release",
        name=name,
        title=title,
        notes=notes,
        empty=NO_CHANGES,
        audience=_audience(audience),
    )


def release_title(name: str, audience: Audience) -> str:
    return f"Release {' '.join(name.split())}: notes for {AUDIENCE_LABELS[audience]}"


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown note format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _audience(audience: Audience) -> dict[str, Any]:
    return {
        "value": audience.value,
        "label": AUDIENCE_LABELS[audience],
        "internal": is_internal(audience),
    }


def _render(fmt: str, templates: Path | None, kind: str, **context: Any) -> str:
    template = environment(fmt, templates).get_template(f"{kind}.{fmt}.j2")
    return template.render(**context)


@functools.cache
def environment(fmt: str, templates: Path | None = None) -> jinja2.Environment:
    """The Environment of one text format and override directory, built once per process."""
    if fmt not in ESCAPERS:
        raise ValueError(f"no template environment for note format {fmt!r}")
    loader: jinja2.BaseLoader = jinja2.FileSystemLoader(TEMPLATES)
    if templates is not None:
        if not templates.is_dir():
            raise ValueError(f"templates: {templates} is not a directory")
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates), loader])
    html = fmt == "html"
    # Sandboxed: a template from an override directory reads the view, it cannot run code.
    env = _NoteEnvironment(
        loader=loader,
        autoescape=html,
        finalize=_finalize_html if html else _finalizer(ESCAPERS[fmt]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["url"] = _html_url if html else _url
    env.filters["br"] = {"html": _br_html, "md": _br_md}.get(fmt, _identity)
    return env


class _NoteEnvironment(SandboxedEnvironment):
    """The sandbox, with a shortcut for the views' own fields: they are plain data (strings,
    flags, tuples of views; the view classes define no methods), so a name not starting with
    "_" is safe to read without the sandbox's inspection of Python internals, the costliest part
    of a render. Anything else is inspected as before."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) in VIEW_TYPES:
            return not attr.startswith("_")
        return bool(super().is_safe_attribute(obj, attr, value))


def _finalizer(escaper: Callable[[str], str]) -> Callable[[Any], str]:
    def finalize(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return value
        return escaper(value if isinstance(value, str) else str(value))

    return finalize


def _finalize_html(value: Any) -> Any:
    """Ticket text escaped with its links broken (escape.html); the template's Markup as is."""
    if value is None:
        return ""
    return escape_html(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _url(value: str) -> Markup:
    """`|url`: the value as a link target if it is an http(s) url (percent-encoded, so nothing
    in it can close the link or start markup), else ""."""
    return Markup(safe_url(value))


def _html_url(value: str) -> Markup:
    return escape(safe_url(value))


def _br_html(value: str) -> Markup:
    """`|br`: multi-line ticket text in HTML, escaped, its line breaks as <br>."""
    text = value if isinstance(value, Markup) else escape_html(value)
    return Markup("<br>\n").join(text.split("\n"))


def _br_md(value: str) -> Markup:
    """`|br`: multi-line ticket text in Markdown, escaped line by line, its line breaks as hard
    breaks (a backslash at the end of the line) and its blank lines as paragraph breaks."""
    if isinstance(value, Markup):
        return value
    paragraphs = (
        "\\\n".join(markdown(line) for line in para.split("\n") if line.strip())
        for para in clean(value).split("\n\n")
    )
    return Markup("\n\n".join(p for p in paragraphs if p))


def _identity(value: str) -> str:
    return value

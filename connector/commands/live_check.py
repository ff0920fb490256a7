"""`mappings check --live CONFIG` and `mappings init --live CONFIG`: the shell around the pure
`mapping.site_check` / `mapping.site_init`.

Check: for every source of the config, its mapping file (the one the config names) is loaded,
the site is read (`discovery.read_site`) and compared; each problem is one line
`<file>: <key>: <what is wrong (site has: ...)>`, warnings marked. Init: the site of one source
is read and rendered as a mapping file, which must load before it is written.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from connector.commands.discovery import read_site
from connector.core.errors import ConfigError, ConnectorError, MappingError
from connector.core.mapping import load_mapping, parse_mapping
from connector.core.mapping.loader import summary
from connector.core.mapping.site_check import Problem, check_site
from connector.core.mapping.site_init import render_mapping
from connector.settings import SourceSettings, load_settings
from connector.sync.reader import open_adapter


def check_live(config: Path) -> Iterator[Problem | str]:
    """Per source: its problems, then one summary line (a str)."""
    settings = load_settings(config)
    for name, source in settings.sources.items():
        file = str(source.mapping)
        try:
            mapping = load_mapping(source.mapping)
        except MappingError as exc:
            yield Problem(exc.file, exc.key, exc.problem)
            continue
        try:
            with closing(open_adapter(name, source)) as adapter:
                site = read_site(adapter, mapping=mapping)
        except ConnectorError as exc:  # this site cannot be read; the others still are
            yield Problem(file, "(site)", str(exc))
            continue
        problems = check_site(mapping, site, file=file)
        yield from problems
        errors = sum(p.error for p in problems)
        warnings = len(problems) - errors
        verdict = f"{errors} error(s)" if errors else "matches the site"
        yield f"{name}: {file}: {verdict}" + (f", {warnings} warning(s)" if warnings else "")


@dataclass(frozen=True)
class Written:
    path: Path | None
    text: str
    line: str  # what to tell the admin
    todos: tuple[str, ...]


def init_live(
    config: Path,
    *,
    source: str,
    out: Path | None,
    projects: Sequence[str] = (),
    issue_types: Sequence[str] = (),
    force: bool = False,
) -> Written:
    """Read one source's site and write (or return) the mapping for it."""
    settings = load_settings(config)
    chosen = _source(settings.sources, source, config)
    if out is not None:
        _writable(out, force=force)
    with closing(open_adapter(source, chosen)) as adapter:
        site = read_site(adapter, projects=projects, issue_types=issue_types)
    rendered = render_mapping(site)
    mapping = parse_mapping(tomllib.loads(rendered.text), file=str(out or "<init>"))
    if out is not None:
        _write(out, rendered.text)
    todo = f"; {len(rendered.todos)} TODO line(s) to decide" if rendered.todos else ""
    line = f"{out or '<stdout>'}: written ({summary(mapping)}){todo}"
    return Written(out, rendered.text, line, tuple(rendered.todos))


def _source(sources: dict[str, SourceSettings], name: str, config: Path) -> SourceSettings:
    if name not in sources:
        known = ", ".join(sources) or "none"
        raise ConfigError(f"{config}: --source: no source named {name!r} (known: {known})")
    return sources[name]


def _writable(out: Path, *, force: bool) -> None:
    if out.is_dir():
        raise ConfigError(f"{out}: --out: is a directory, not a file")
    if out.exists() and not force:
        raise ConfigError(f"{out}: --out: exists already (add --force to replace it)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{out}: --out: no such directory {str(parent)!r}")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ConfigError(f"{out}: --out: not writable")


def _write(out: Path, text: str) -> None:
    """Write through a temporary file beside it, so a failed write leaves no half file."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ConfigError(f"{out}: --out: cannot write: {exc.strerror or exc}") from None

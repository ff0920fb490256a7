"""The configuration tree: a TOML file plus `CHANGE_CONNECTOR__...` environment overrides.

    [sources.acme-jira]
    kind = "jira"                         # jira | servicenow
    url = "https://acme.atlassian.net"
    username = "connector@acme.com"
    token = "..."                         # better: CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN
    mapping = "mappings/jira-default.toml"

Several sources may live in one file (an MSP running the worker for several clients). Secrets are
SecretStr, so they never print; unknown keys are errors; a secret that is empty, blank, a
placeholder or too short is refused (secret_rules.py). `load_settings` reports every problem at
once as one `ConfigError`, each with its dotted path and where it came from: the file, or the
environment variable that set it (`load_config` also returns those origins for `check-config`).
The tree's sections and their checks are model.py's; this module loads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connector.core import secret_rules
from connector.core.errors import ConfigError
from connector.settings.file import Origins, apply_env, read_toml
from connector.settings.model import (
    AuditSettings,
    ReportsSettings,
    ServerSettings,
    Settings,
    SourceSettings,
    WorkerSettings,
    duplicate_sources,
)

__all__ = [
    "DEFAULT_CONFIG",
    "AuditSettings",
    "LoadedConfig",
    "ReportsSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SourceSettings",
    "WorkerSettings",
    "duplicate_sources",
    "load_config",
    "load_settings",
    "where",
]

DEFAULT_CONFIG = Path("change-connector.toml")


#: Where each overridden setting came from: dotted path -> environment variable name.


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    path: Path
    origins: Origins = field(default_factory=dict)

    def where(self, *loc: str) -> str:
        """`CHANGE_CONNECTOR__X__Y` if the environment set `loc` (or a table above it),
        else `<file>: dotted.key`."""
        return where(self.path, self.origins, tuple(loc))


def load_settings(path: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (if it exists or was named) and apply environment overrides."""
    return load_config(path, environ=environ).settings


def load_config(path: Path | None = None, *, environ: dict[str, str] | None = None) -> LoadedConfig:
    """`load_settings`, keeping which settings the environment set (for error messages)."""
    env = dict(os.environ if environ is None else environ)
    config_path = path or DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if path is not None or config_path.exists():
        data = read_toml(config_path)
    origins = apply_env(data, env)
    base = config_path.resolve().parent
    errors = secret_rules.problems(data)
    sources = data.get("sources")
    if isinstance(sources, dict):
        errors += duplicate_sources(sources)
    settings = None
    shape: list[tuple[tuple[str, ...], str]] = []
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        shape = _errors(exc)
        errors += shape
    if errors:
        lines = [f"{where(config_path, origins, loc)}: {message}" for loc, message in errors]
        partial = _partial(data, shape) if shape else settings
        raise SettingsError(
            "; ".join(dict.fromkeys(lines)),
            partial=None
            if partial is None
            else LoadedConfig(_resolve_paths(partial, base), config_path, origins),
        )
    assert settings is not None
    return LoadedConfig(_resolve_paths(settings, base), config_path, origins)


class SettingsError(ConfigError):
    """The config does not load; `partial` holds the parts that do (sources and sections
    without a shape error), so `check-config` can check their files too, in the same run."""

    def __init__(self, message: str, *, partial: LoadedConfig | None) -> None:
        super().__init__(message)
        self.partial = partial


def _partial(data: dict[str, Any], errors: list[tuple[tuple[str, ...], str]]) -> Settings | None:
    bad_sections = {loc[0] for loc, _ in errors if loc and loc[0] != "sources"}
    bad_sources = {loc[1] for loc, _ in errors if len(loc) > 1 and loc[0] == "sources"}
    kept = {k: v for k, v in data.items() if k not in bad_sections and k != "policy"}
    sources = data.get("sources")
    if isinstance(sources, dict):
        kept["sources"] = {
            name: value
            for name, value in sources.items()
            if name not in bad_sources and isinstance(value, dict)
        }
    try:
        return Settings.model_validate(kept)
    except ValidationError:
        return None


def where(config_path: Path, origins: Origins, loc: tuple[str, ...]) -> str:
    dotted = ".".join(loc)
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            return f"{origins[loc[:n]]} ({dotted})"
    return f"{config_path}: {dotted}" if dotted else str(config_path)


def _errors(exc: ValidationError) -> list[tuple[tuple[str, ...], str]]:
    out = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        # A model validator names its own key ("sources.x: ..."): keep it, not a blank path.
        head, sep, rest = message.partition(": ")
        if sep and not loc and "." in head and " " not in head:
            loc, message = tuple(head.split(".")), rest
        out.append((loc, message))
    return out


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the config are relative to the config file, not the working dir."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    sources = {
        name: s.model_copy(
            update={
                "mapping": fix(s.mapping),
                "ca_bundle": fix(s.ca_bundle) if s.ca_bundle else None,
            }
        )
        for name, s in settings.sources.items()
    }
    notes = settings.release_notes
    if notes.templates_dir is not None:
        notes = notes.model_copy(update={"templates_dir": fix(notes.templates_dir)})
    audit = settings.audit
    if audit.anchor_file is not None:
        audit = audit.model_copy(update={"anchor_file": fix(audit.anchor_file)})
    channels = tuple(
        c.model_copy(update={"ca_bundle": fix(c.ca_bundle)}) if c.ca_bundle else c
        for c in settings.notify
    )
    deploy = settings.deploy
    gitlab = deploy.gitlab
    if gitlab is not None and gitlab.ca_bundle is not None:
        gitlab = gitlab.model_copy(update={"ca_bundle": fix(gitlab.ca_bundle)})
        deploy = deploy.model_copy(update={"gitlab": gitlab})
    return settings.model_copy(
        update={
            "deploy": deploy,
            "sources": sources,
            "data_dir": fix(settings.data_dir),
            "release_notes": notes,
            "audit": audit,
            "notify": channels,
        }
    )

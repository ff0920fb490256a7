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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.core import secret_rules
from connector.core.communications import ReleaseNotesSettings
from connector.core.deploy.config import DeploySettings
from connector.core.errors import ConfigError
from connector.core.freeze_export import FreezeExportSettings
from connector.core.keys import key_problem
from connector.core.notify.settings import NotifyChannel, channel_problems
from connector.core.policy.config import PolicySettings
from connector.settings.file import Origins, apply_env, read_toml

DEFAULT_CONFIG = Path("change-connector.toml")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSettings(_Section):
    kind: Literal["jira", "servicenow"]
    url: Annotated[str, Field(pattern=r"^https://")]
    username: Annotated[str, Field(min_length=1)]
    token: SecretStr
    mapping: Path
    # A CA bundle for sites behind a private CA; verification is never switched off.
    ca_bundle: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    # Webhooks: the shared secret of the Jira admin webhook (X-Hub-Signature: sha256=<hex>) or
    # of the ServiceNow business rule (base64 HMAC-SHA256 in `webhook_signature_header`).
    webhook_secret: SecretStr | None = None
    webhook_signature_header: str = "X-ServiceNow-Signature"
    # Polling: how often, and how far behind the cursor each poll looks again.
    poll_interval_minutes: Annotated[float, Field(gt=0)] = 5.0
    lookback_minutes: Annotated[float, Field(ge=0)] = 10.0
    # Retries of one call (429, 5xx, dropped connections): attempts and the longest total wait.
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    max_retry_wait_seconds: Annotated[float, Field(ge=0)] = 120.0
    # The first backoff step; later ones double (with full jitter), never below Retry-After.
    retry_base_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    # Planned writes applied at once (on different tickets: one ticket's writes stay in order,
    # one at a time); 1 applies them one after another. Retry-After and the rate-limit headers
    # pause all of them together (connector/systems/ratelimit.py).
    write_concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    # Onboarding (connector/core/gate.py): "observe" reads, evaluates, records, reports and plans
    # but writes nothing to tickets; "enforce" writes what the policy plans.
    mode: Literal["observe", "enforce"] = "enforce"
    # Changes last updated before this (an aware datetime, or a date: midnight in the policy's
    # time zone) are recorded and reported but get no notes, moves or labels.
    act_on_changes_updated_after: datetime | date | None = None

    @field_validator("act_on_changes_updated_after", mode="before")
    @classmethod
    def _date_or_datetime(cls, value: Any) -> Any:
        # Only ISO dates and date-times: pydantic would read a number (or a string of digits)
        # as seconds since 1970, a cut-off that silently lets every change be acted on.
        if isinstance(value, date) or value is None:
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                # A string (the environment, a quoted TOML value): a date unless it has a time.
                return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
            except ValueError:
                pass
        raise ValueError("not a date (2026-12-07) or a date-time with an offset")

    @field_validator("act_on_changes_updated_after")
    @classmethod
    def _aware(cls, value: datetime | date | None) -> datetime | date | None:
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise ValueError(
                "a date-time needs an offset (e.g. 2026-12-06T00:00:00Z) or use a date"
            )
        return value

    def act_after(self, zone: tzinfo) -> datetime | None:
        """`act_on_changes_updated_after` as an aware datetime (a date: midnight in `zone`)."""
        value = self.act_on_changes_updated_after
        if value is None or isinstance(value, datetime):
            return value
        return datetime.combine(value, time(0, 0), tzinfo=zone)

    @field_validator("url")
    @classmethod
    def _https_with_host(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url):
            raise ValueError("not an https URL with a host (https://host[:port][/path])")
        if parts.query or parts.fragment:
            raise ValueError("the base URL takes no query or fragment")
        return url

    @property
    def verify(self) -> str | bool:
        return str(self.ca_bundle) if self.ca_bundle else True


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # Bodies larger than this are refused with 413 before they are read further.
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    # Accept unsigned webhooks for sources without a secret. Only for local experiments.
    insecure_unsigned_webhooks: bool = False
    # Bearer token of GET /reports/changes; without one the report API is off.
    report_token: SecretStr | None = None
    # A request body not received in full within this many seconds is refused with 408.
    body_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0
    # Deepest nesting of arrays and objects a webhook body may have.
    max_json_depth: Annotated[int, Field(ge=4, le=500)] = 64
    # A body received again from the same source within this window is a duplicate, whatever
    # its delivery id (a replay): longer than Jira's 30-minute retry window.
    replay_window_hours: Annotated[float, Field(gt=0, le=8760)] = 24.0
    # Pending inbox rows at which new deliveries are refused with 429 and Retry-After.
    max_pending: Annotated[int, Field(ge=1)] = 100_000


class WorkerSettings(_Section):
    # How many inbox items one drain takes, and how long a claim lasts before others may retry.
    drain_batch: Annotated[int, Field(ge=1, le=1000)] = 100
    lease_seconds: Annotated[float, Field(gt=0)] = 300.0
    # The drain's safety-net timer: a stored delivery wakes the drain at once (store/wakeup.py).
    drain_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Processed inbox rows are deleted this long after processing (never before the replay
    # window has passed: they are what replays are recognized by).
    inbox_retention_hours: Annotated[float, Field(gt=0, le=87600)] = 24.0
    purge_interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0


class ReportsSettings(_Section):
    """`[reports]`: the change success score's points per recorded outcome (by default
    ServiceNow's +3 successful, -5 unsuccessful), and the key that signs sample packs."""

    success_score: dict[Literal["successful", "failed", "rolled-back"], float] = {
        "successful": 3.0,
        "rolled-back": -5.0,
        "failed": -5.0,
    }
    # HMAC-SHA256 key of the sample pack's manifest (at least 16 characters).
    pack_key: Annotated[SecretStr, Field(min_length=16)] | None = None


class AuditSettings(_Section):
    # HMAC-SHA256 key of the audit chain's links: without it anyone who can write to the
    # database can rewrite the chain and rehash it. At least 16 characters.
    hmac_key: SecretStr | None = None
    # Anchors of the chain head (count + hash), one JSON line appended per anchor: keep the file
    # outside the database (append-only storage, another host). Empty: no anchors.
    anchor_file: Path | None = None
    # The worker anchors the head at most this often (and when it stops, and on export).
    anchor_interval_seconds: Annotated[float, Field(gt=0)] = 300.0


class Settings(_Section):
    data_dir: Path = Path(".change-connector")
    # SQLAlchemy URL; empty: SQLite in data_dir. PostgreSQL: postgresql+psycopg://user@host/db
    store_url: SecretStr | None = None
    server: ServerSettings = ServerSettings()
    worker: WorkerSettings = WorkerSettings()
    policy: PolicySettings = PolicySettings()
    release_notes: ReleaseNotesSettings = ReleaseNotesSettings()
    reports: ReportsSettings = ReportsSettings()
    audit: AuditSettings = AuditSettings()
    # `[deploy]`: deployment gates and evidence (core/deploy/config.py).
    deploy: DeploySettings = DeploySettings()
    sources: dict[str, SourceSettings] = {}
    # `[[notify]]`: chat channels (core/notify/settings.py).
    notify: tuple[NotifyChannel, ...] = ()
    # `[freeze_export]`: where `freeze export` puts the freezes (core/freeze_export.py).
    freeze_export: FreezeExportSettings = FreezeExportSettings()

    @model_validator(mode="after")
    def _notify_channels_fit(self) -> Settings:
        for loc, message in channel_problems(self.notify, set(self.sources)):
            raise ValueError(f"{'.'.join(loc)}: {message}")
        return self

    @model_validator(mode="after")
    def _source_names_unique(self) -> Settings:
        for loc, message in duplicate_sources(self.sources):
            raise ValueError(f"{'.'.join(loc)}: {message}")
        return self

    @model_validator(mode="after")
    def _policy_scopes_name_sources(self) -> Settings:
        for name in self.policy.scope:
            if name not in self.sources:
                known = ", ".join(sorted(self.sources)) or "none configured"
                raise ValueError(f"policy.scope.{name}: no source named {name!r} (known: {known})")
        return self

    @model_validator(mode="after")
    def _release_tickets_are_keys(self) -> Settings:
        for name, key in self.release_notes.release_tickets.items():
            source = self.sources.get(name)
            problem = None if source is None else key_problem(source.kind, key)
            if problem is not None:
                raise ValueError(f"release_notes.release_tickets.{name}: {problem}")
        return self

    @model_validator(mode="after")
    def _retention_covers_replays(self) -> Settings:
        if self.worker.inbox_retention_hours < self.server.replay_window_hours:
            raise ValueError(
                "worker.inbox_retention_hours: shorter than server.replay_window_hours "
                f"({self.server.replay_window_hours:g}); processed rows are what replays are "
                "recognized by"
            )
        return self


def duplicate_sources(names: Any) -> list[tuple[tuple[str, ...], str]]:
    """Source names that differ only in case or "-" / "_": environment variables match names
    that way, so such sources would share every override (and confuse reports)."""
    seen: dict[str, str] = {}
    out: list[tuple[tuple[str, ...], str]] = []
    for name in names:
        folded = str(name).lower().replace("-", "_")
        if folded in seen:
            message = f"same name as sources.{seen[folded]} (names must differ in more than case)"
            out.append((("sources", str(name)), message))
        else:
            seen[folded] = str(name)
    return out


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

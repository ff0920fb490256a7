"""The configuration tree: a TOML file plus `CHANGE_CONNECTOR__...` environment overrides.

    [sources.acme-jira]
    kind = "jira"                         # jira | servicenow
    url = "https://acme.atlassian.net"
    username = "connector@acme.com"
    token = "..."                         # better: CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN
    mapping = "mappings/jira-default.toml"

Several sources may live in one file (an MSP running the worker for several clients). Secrets are
SecretStr, so they never print; unknown keys are errors. `load_settings` reports every problem at
once, each with its dotted path, as one `ConfigError`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from connector.communications import ReleaseNotesSettings
from connector.errors import ConfigError
from connector.policy.config import PolicySettings

ENV_PREFIX = "CHANGE_CONNECTOR__"
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


class WorkerSettings(_Section):
    # How many inbox items one drain takes, and how long a claim lasts before others may retry.
    drain_batch: Annotated[int, Field(ge=1, le=1000)] = 100
    lease_seconds: Annotated[float, Field(gt=0)] = 300.0
    drain_interval_seconds: Annotated[float, Field(gt=0)] = 5.0


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


class Settings(_Section):
    data_dir: Path = Path(".change-connector")
    # SQLAlchemy URL; empty: SQLite in data_dir. PostgreSQL: postgresql+psycopg://user@host/db
    store_url: SecretStr | None = None
    server: ServerSettings = ServerSettings()
    worker: WorkerSettings = WorkerSettings()
    policy: PolicySettings = PolicySettings()
    release_notes: ReleaseNotesSettings = ReleaseNotesSettings()
    reports: ReportsSettings = ReportsSettings()
    sources: dict[str, SourceSettings] = {}

    @model_validator(mode="after")
    def _policy_scopes_name_sources(self) -> Settings:
        for name in self.policy.scope:
            if name not in self.sources:
                known = ", ".join(sorted(self.sources)) or "none configured"
                raise ValueError(f"policy.scope.{name}: no source named {name!r} (known: {known})")
        return self


def load_settings(path: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (if it exists or was named) and apply environment overrides."""
    env = dict(os.environ if environ is None else environ)
    config_path = path or DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if path is not None or config_path.exists():
        data = _read_toml(config_path)
    _apply_env(data, env)
    base = config_path.resolve().parent
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{config_path}: " + "; ".join(_lines(exc))) from None
    return _resolve_paths(settings, base)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> None:
    """`CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN=x` sets sources.<acme-jira>.token = x.

    Source names are matched case-insensitively with `-` and `_` treated alike, since
    environment variable names cannot hold dashes.
    """
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = data
        for part in path[:-1]:
            key = _match_key(node, part)
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {key} is not a table")
        node[_match_key(node, path[-1])] = value


def _match_key(node: dict[str, Any], part: str) -> str:
    for key in node:
        if key.lower().replace("-", "_") == part:
            return key
    return part


def _lines(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(f"{where}: {message}")
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
    return settings.model_copy(
        update={"sources": sources, "data_dir": fix(settings.data_dir), "release_notes": notes}
    )

"""The configuration tree's sections: sources, server, worker, reports, audit, and the `Settings`
that holds them with the checks that span sections.

`load_settings` (settings/__init__.py) validates the TOML file plus environment overrides into
these frozen models; unknown keys are errors, secrets are SecretStr, and a source's URL must be
HTTPS with a host. The policy, deploy, notify, release-notes and freeze-export sections are the
core's own models, mounted here.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from connector.core.communications import ReleaseNotesSettings
from connector.core.deploy.config import DeploySettings
from connector.core.freeze_export import FreezeExportSettings
from connector.core.keys import key_problem
from connector.core.notify.settings import NotifyChannel, channel_problems
from connector.core.policy.config import PolicySettings


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
    # Tickets recorded in one transaction: a poll cycle normalizes each page as it arrives and
    # processes its pages this many tickets at a time; a pass over stored changes evaluates this
    # many at a time. Larger batches cost less a ticket (fewer statements and commits) and hold
    # more in memory at once (~40 KB a change while it is evaluated and recorded; two batches
    # at once, one recorded while the next is prepared).
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 250
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
    # pause all of them together (connector/systems/ratelimit.py). A ticket claimed by a worker
    # that died is written again only twice `timeout_seconds` after that claim's lease ran out
    # (see README, "Writes side by side", and connector/store/ledger.py, "The fence").
    write_concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    # A cycle with at least this many changes to evaluate at once (a first sync, the policy
    # changed) shares them with a second process, which evaluates and records some of them
    # while the worker does the others (it lives as long as the cycle and holds ~87 MB);
    # `sync --once` starts it ahead, for a cycle whose first batch is full of changes to take;
    # 0: never (connector/sync/second.py).
    parallel_from: Annotated[int, Field(ge=0)] = 2000
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

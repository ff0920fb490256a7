"""`[[notify]]`: the chat channels the worker posts change-control events to.

    [[notify]]
    name = "ops-slack"                  # letters, digits, "-" and "_"; part of every post's key
    kind = "slack"                      # slack | teams | webhook
    url = "..."                         # a secret: CHANGE_CONNECTOR__NOTIFY__OPS_SLACK__URL
    events = ["emergency-created", "unauthorized"]
    sources = ["acme-jira"]             # empty: every source
    change_types = ["emergency", "normal"]  # empty: every type (and changes without one)

Slack incoming-webhook and Teams Workflows URLs carry their own credential (whoever has the URL
can post), so the URL is a SecretStr, checked like every other secret (secret_rules.py) and
never printed. A `webhook` channel signs each body with HMAC-SHA256 under `secret`. No I/O.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connector.core import secret_rules
from connector.core.model import ChangeType


class EventKind(StrEnum):
    EMERGENCY_CREATED = "emergency-created"
    EMERGENCY_IMPLEMENTED = "emergency-implemented"
    UNAUTHORIZED = "unauthorized"
    FREEZE_VIOLATION = "freeze-violation"
    CHANGE_BLOCKED = "change-blocked"
    APPROVAL_DRIFT = "approval-drift"
    REVIEW_OVERDUE = "review-overdue"


#: Posts per second per channel when the channel does not say: Teams Workflows webhooks allow
#: 4 requests per second; Slack incoming webhooks 1 message per second (short bursts allowed).
DEFAULT_RATE = {"slack": 1.0, "teams": 4.0, "webhook": 5.0}


class NotifyChannel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    kind: Literal["slack", "teams", "webhook"]
    url: SecretStr
    events: Annotated[tuple[EventKind, ...], Field(min_length=1)]
    sources: tuple[str, ...] = ()
    change_types: tuple[ChangeType, ...] = ()
    # webhook: the HMAC-SHA256 key of the body, sent as `sha256=<hex>` in `signature_header`.
    secret: SecretStr | None = None
    signature_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = (
        "X-Change-Connector-Signature"
    )
    # A CA bundle for an endpoint behind a private CA; verification is never switched off.
    ca_bundle: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_per_second: Annotated[float, Field(gt=0, le=100)] | None = None

    @field_validator("url")
    @classmethod
    def _https_url(cls, url: SecretStr) -> SecretStr:
        # Never quote the value: it is the channel's credential.
        value = url.get_secret_value()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("not a URL (the value is not shown: it is a secret)") from None
        if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError("not an https URL with a host (the value is not shown)")
        pieces = [p for p in parts.path.split("/") if p] + [v for _, v in parse_qsl(parts.query)]
        if any(secret_rules.problem(p) for p in pieces):
            raise ValueError("holds a placeholder, not the channel's real webhook URL")
        return url

    @model_validator(mode="after")
    def _secret_fits_kind(self) -> NotifyChannel:
        if self.kind == "webhook" and self.secret is None:
            raise ValueError(
                "secret: a webhook channel signs its bodies; set a secret of at least "
                f"{secret_rules.MIN_GENERATED_LENGTH} characters"
            )
        if self.kind != "webhook" and self.secret is not None:
            raise ValueError(f"secret: not used by {self.kind} channels (the URL is the secret)")
        return self

    @property
    def verify(self) -> str | bool:
        return str(self.ca_bundle) if self.ca_bundle else True

    @property
    def rate(self) -> float:
        return self.max_per_second or DEFAULT_RATE[self.kind]


def channel_problems(
    channels: tuple[NotifyChannel, ...], sources: set[str]
) -> list[tuple[tuple[str, ...], str]]:
    """Names used twice, and sources a channel names that are not configured."""
    out: list[tuple[tuple[str, ...], str]] = []
    seen: dict[str, int] = {}
    for i, channel in enumerate(channels):
        folded = channel.name.lower().replace("-", "_")
        if folded in seen:
            out.append(((("notify", str(i), "name")), f"same name as notify[{seen[folded]}]"))
        seen.setdefault(folded, i)
        for j, name in enumerate(channel.sources):
            if name not in sources:
                known = ", ".join(sorted(sources)) or "none configured"
                out.append(
                    (("notify", str(i), "sources", str(j)), f"no source named {name!r} ({known})")
                )
    return out

"""What counts as a secret: not empty, not whitespace, not a placeholder, long enough.

Used by `load_settings` (every command refuses a config whose secrets are not secrets, naming the
key or the environment variable) and by the places that read a secret at request time (a blank
key never verifies a signature or a bearer token, whatever built the settings). No I/O.
"""

from __future__ import annotations

import re
from typing import Any

#: Webhook secrets, the report token and the audit key are generated, not remembered: at least
#: this many characters (e.g. `openssl rand -hex 32`).
MIN_GENERATED_LENGTH = 16

#: Values people leave in from examples and templates.
PLACEHOLDERS = frozenset(
    {
        "set-me-in-the-environment",
        "set-me",
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "replace-me",
        "replaceme",
        "secret",
        "password",
        "passw0rd",
        "token",
        "api-token",
        "your-token",
        "your-api-token",
        "your-secret",
        "default",
        "example",
        "test",
        "todo",
        "fixme",
        "none",
        "null",
        "...",
    }
)
# xxx, XXXX, ****, ----, <token>, ${TOKEN}, {{ secret }}: template leftovers.
_PLACEHOLDER_SHAPES = re.compile(r"(x+|\*+|-+|\.+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\})")

#: (dotted path pattern, minimum length): `*` stands for any one key (a source name).
SECRET_KEYS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("sources", "*", "token"), 1),
    (("sources", "*", "webhook_secret"), MIN_GENERATED_LENGTH),
    (("server", "report_token"), MIN_GENERATED_LENGTH),
    (("audit", "hmac_key"), MIN_GENERATED_LENGTH),
    (("reports", "pack_key"), MIN_GENERATED_LENGTH),
    (("store_url",), 1),
    # A Slack / Teams webhook URL is its own credential; a webhook channel's signing key.
    (("notify", "*", "url"), 1),
    (("notify", "*", "secret"), MIN_GENERATED_LENGTH),
    # Deployment gates: the gate API's bearer token, the GitHub App's and GitLab's secrets.
    (("deploy", "gate_token"), MIN_GENERATED_LENGTH),
    (("deploy", "github", "webhook_secret"), MIN_GENERATED_LENGTH),
    (("deploy", "github", "private_key"), 1),
    (("deploy", "gitlab", "token"), 1),
    (("deploy", "gitlab", "webhook_token"), MIN_GENERATED_LENGTH),
)


def problem(value: str, *, min_length: int = 1) -> str | None:
    """Why `value` is not a usable secret (never quoting it), or None."""
    stripped = value.strip()
    if not value:
        return "empty: set a secret value"
    if not stripped:
        return "only whitespace: set a secret value"
    lowered = stripped.lower()
    if lowered in PLACEHOLDERS or _PLACEHOLDER_SHAPES.fullmatch(lowered):
        return "a placeholder, not a secret: set the real value"
    if len(stripped) < min_length:
        return f"too short: a secret of at least {min_length} characters is required"
    return None


def usable(value: str | None) -> bool:
    """Whether a secret read at request time can be used at all (never a blank key)."""
    return value is not None and bool(value.strip())


def problems(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(path, problem) of every secret in raw config data that is not a secret."""
    out: list[tuple[tuple[str, ...], str]] = []
    for pattern, min_length in SECRET_KEYS:
        for path, value in _walk(data, pattern, ()):
            if isinstance(value, str):
                found = problem(value, min_length=min_length)
                if found:
                    out.append((path, found))
    return out


Found = list[tuple[tuple[str, ...], Any]]


def _walk(node: Any, pattern: tuple[str, ...], at: tuple[str, ...]) -> Found:
    if not pattern:
        return [(at, node)]
    head, rest = pattern[0], pattern[1:]
    if isinstance(node, list) and head == "*":  # an array of tables (`[[notify]]`)
        found_: Found = []
        for i, item in enumerate(node):
            found_ += _walk(item, rest, (*at, str(i)))
        return found_
    if not isinstance(node, dict):
        return []
    keys = list(node) if head == "*" else [head] if head in node else []
    found: Found = []
    for key in keys:
        found += _walk(node[key], rest, (*at, str(key)))
    return found

"""The config file as data: the TOML read, then the `CHANGE_CONNECTOR__...` environment
variables applied over it, each override remembered with the variable that set it (its origin,
which errors and `check-config` name). Validation is the package's `load_config`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from connector.core.errors import ConfigError

ENV_PREFIX = "CHANGE_CONNECTOR__"

Origins = dict[tuple[str, ...], str]


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def apply_env(data: dict[str, Any], env: dict[str, str]) -> Origins:
    """`CHANGE_CONNECTOR__SOURCES__ACME_JIRA__TOKEN=x` sets sources.<acme-jira>.token = x.

    Source names are matched case-insensitively with `-` and `_` treated alike, since
    environment variable names cannot hold dashes.
    """
    origins: Origins = {}
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if not all(path):
            raise ConfigError(f"{name}: empty name part (use __ only between keys)")
        node = data
        keys: list[str] = []
        for part in path[:-1]:
            if isinstance(node, list):  # `[[notify]]`: an entry is named by its `name`
                key, node = _match_entry(node, part, name)
                keys.append(key)
                continue
            key = _match_key(node, part)
            keys.append(key)
            node = node.setdefault(key, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"{name}: {'.'.join(keys)} is not a table")
        if not isinstance(node, dict):
            raise ConfigError(f"{name}: {'.'.join(keys)} is not a table")
        last = _match_key(node, path[-1])
        node[last] = value
        origins[(*keys, last)] = name
    return origins


def _match_entry(node: list[Any], part: str, var: str) -> tuple[str, dict[str, Any]]:
    """The entry of an array of tables whose `name` matches `part` (as source names match)."""
    for i, entry in enumerate(node):
        if isinstance(entry, dict) and str(entry.get("name", "")).lower().replace("-", "_") == part:
            return str(i), entry
    raise ConfigError(f"{var}: no entry named {part!r} in the config file")


def _match_key(node: dict[str, Any], part: str) -> str:
    for key in node:
        if key.lower().replace("-", "_") == part:
            return key
    return part

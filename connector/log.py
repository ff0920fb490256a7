"""Logging: loguru to stderr, human or JSON lines, with every configured secret masked.

`diagnose` is off so tracebacks never print local variables (tokens live in them). The mask
filter replaces each secret value known from the settings wherever it appears in a message.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

MASK = "********"


def setup(*, json: bool = False, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    hidden = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def mask(record: Record) -> bool:
        message = record["message"]
        for secret in hidden:
            message = message.replace(secret, MASK)
        record["message"] = message
        return True

    logger.remove()
    logger.add(
        sys.stderr, level=level, serialize=json, filter=mask, diagnose=False, backtrace=False
    )


def secrets_of(settings: object) -> list[str]:
    """Every SecretStr value in a settings tree."""
    from pydantic import BaseModel, SecretStr

    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, SecretStr):
            out.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(settings)
    return out

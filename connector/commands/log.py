"""Logging: loguru to stderr, human or JSON lines, with every configured secret masked.

`diagnose` is off so tracebacks never print local variables (tokens live in them). The mask
filter replaces each secret value known from the settings wherever it appears in a message.
Everything that logs through the standard library (uvicorn's server, client libraries, warnings)
is routed into loguru too, and so are uncaught exceptions of the process and its threads: with
`--log-json` every line on stderr is one JSON object, tracebacks inside it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

MASK = "********"
_json = False


def json_enabled() -> bool:
    """Whether `setup(json=True)` ran: the CLI then writes its final error line as JSON too."""
    return _json


def setup(*, json: bool = False, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    global _json
    _json = json
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
    # The root logger keeps its level (WARNING unless set: libraries' INFO chatter stays out);
    # uvicorn's loggers keep the level the server is given.
    root = logging.getLogger()
    if not any(isinstance(handler, InterceptHandler) for handler in root.handlers):
        root.addHandler(InterceptHandler())
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


class InterceptHandler(logging.Handler):
    """Hands standard-library log records to loguru (same sink, same mask, same format)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        exc_info = record.exc_info if record.exc_info and record.exc_info[0] else None
        logger.opt(exception=exc_info).log(level, "{}: {}", record.name, record.getMessage())


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logger.opt(exception=(kind, value, tb)).critical("uncaught {}", kind.__name__)


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or args.exc_type is SystemExit:
        return
    where = args.thread.name if args.thread is not None else "a thread"
    logger.opt(exception=(args.exc_type, args.exc_value, args.exc_traceback)).critical(
        "uncaught {} in {}", args.exc_type.__name__, where
    )


def secrets_of(settings: object) -> list[str]:
    """Every SecretStr value in a settings tree."""
    from pydantic import BaseModel, SecretStr

    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, SecretStr):
            value = node.get_secret_value()
            out.append(value)
            # A webhook URL's credential is its path (and query): HTTP libraries log the
            # request line without the host.
            if value.startswith("https://") and len(tail := _path_of(value)) >= 16:
                out.append(tail)
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                value = getattr(node, name)
                if name == "store_url" and isinstance(value, SecretStr):
                    out.extend(url_secrets(value.get_secret_value()))
                else:
                    walk(value)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):  # `[[notify]]` channels
            for value in node:
                walk(value)

    walk(settings)
    return out


_SECRET_PARAMS = ("password", "passwd", "secret", "token")


def url_secrets(url: str) -> list[str]:
    """The secrets of a database URL: its password and password-like query values (raw and
    percent-decoded). The rest (driver, user, host, database, file) is what the start-up line
    and errors show, so it is not masked; a URL that does not parse is a secret as a whole."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
        query = parse_qsl(parts.query)
    except ValueError:
        return [url]
    found = [password] if password else []
    found += [v for k, v in query if v and any(w in k.lower() for w in _SECRET_PARAMS)]
    return [form for value in found for form in {value, unquote(value)}]


def _path_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")

"""The worker's HTTP server: the ASGI app of serve/webhooks.py under uvicorn, in a thread.

`run` serves it for the life of the process; `Worker.serving` for the length of a block (the
demo's gates). A worker whose server cannot listen stops at once and says why: without its
webhook intake it would only look healthy.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress

import uvicorn
from starlette.types import ASGIApp

from connector.core.errors import ConfigError
from connector.serve.telemetry import bound_address
from connector.settings import Settings


def start_server(app: ASGIApp, settings: Settings) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve `app` on `server.host:server.port` in a daemon thread, once it listens."""
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        # uvicorn logs through the standard library, which log.setup routes into loguru
        # (JSON lines with --log-json); its own handlers would print plain text.
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="webhooks", daemon=True)
    thread.start()
    with suppress(Exception):
        while not server.started and thread.is_alive():
            time.sleep(0.01)
    if not server.started:
        where = f"{settings.server.host}:{settings.server.port}"
        raise ConfigError(f"server: cannot listen on {where} (the reason is logged above)")
    return server, thread


def listening_at(server: uvicorn.Server) -> str | None:
    """The host:port the server actually bound (port 0 in the config: the one the OS chose)."""
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            return bound_address(str(host), int(port))
    return None

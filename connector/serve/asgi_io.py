"""Plain ASGI reading and answering for the webhook handlers: a size-limited body, a JSON answer.

Shared by the intake (serve/webhooks.py) and the GitHub App's hook (serve/github_hook.py), which
skip the framework on their hot path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import Receive, Send

from connector.serve.webhook_parse import Refused


async def respond(
    send: Send,
    status: int,
    payload: dict[str, str],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_limited(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes | None:
    """The whole body, refused with 413 once it passes `limit`; None if the client left."""
    declared = headers.get("content-length")
    digits = declared is not None and declared.isascii() and declared.isdigit()
    if declared is not None and digits and (len(declared) > 18 or int(declared) > limit):
        raise Refused(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)

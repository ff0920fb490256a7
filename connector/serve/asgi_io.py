"""Plain ASGI reading and answering for the webhook handlers: a size-limited body, a JSON answer.

Shared by the intake (serve/webhooks.py), the providers' hooks (serve/github_hook.py,
serve/gitlab_hook.py) and the gate front (serve/gate_front.py), which skip the framework on their
hot path.
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
    await send_json(send, status, json.dumps(payload).encode(), extra)


async def send_json(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answers with `body`, JSON already serialized (the gate front serializes with orjson)."""
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
    return await read_body(receive, limit)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body as it streams in, refused with 413 once it passes `limit`; None if the
    client left."""
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

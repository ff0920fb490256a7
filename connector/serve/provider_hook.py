"""The shape the providers' deployment hooks share (serve/github_hook.py, serve/gitlab_hook.py).

`POST` only (405 otherwise); the request's headers as a lower-cased map; whatever a subclass's
`answer` refuses is a one-line JSON error with its status, never a 500; the gate's work goes to a
small thread pool of its own, so the provider's delivery is answered at once and the gate's calls
back to the provider stay off the request path.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from starlette.types import Receive, Scope, Send

from connector.core import secret_rules
from connector.serve.asgi_io import respond
from connector.serve.webhook_parse import Refused

#: An answer: (status, JSON object), or None when the client left before sending its body.
Answer = tuple[int, dict[str, str]] | None


def usable_secret(secret: str | None) -> bytes | None:
    """The secret's bytes, or None for a blank one (which verifies nothing: every delivery is
    refused)."""
    return secret.encode() if secret is not None and secret_rules.usable(secret) else None


def secret_matches(given: bytes, expected: bytes, *, configured: bool) -> bool:
    """Whether `given` is `expected`, compared in constant time; never without a secret."""
    valid = hmac.compare_digest(given, expected)
    return configured and bool(given) and valid


class ProviderHook:
    """A plain ASGI handler of one provider's `POST /webhooks/<provider>`."""

    def __init__(self, *, max_body_bytes: int, pool_name: str) -> None:
        self.limit = max_body_bytes
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=pool_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        try:
            answer = await self.answer(headers, receive)
        except Refused as refused:
            await respond(send, refused.status, {"error": refused.message})
            return
        if answer is not None:
            await respond(send, *answer)

    async def answer(self, headers: Mapping[str, str], receive: Receive) -> Answer:
        """Reads and checks one delivery, hands its work to the pool; raises Refused."""
        raise NotImplementedError

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

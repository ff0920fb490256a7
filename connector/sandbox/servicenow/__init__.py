"""ServiceNow Table API simulator (placeholder interface; the real one replaces this)."""

from __future__ import annotations

from fastapi import APIRouter

from connector.sandbox.scenario import SeedChange
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import WebhookDispatcher


class ServiceNowSimulator:
    def __init__(self, state: SandboxState, *, base_url: str, webhooks: WebhookDispatcher) -> None:
        self.state = state
        self.base_url = base_url
        self.webhooks = webhooks
        self.router = APIRouter()

        @self.router.get("/api/now/table/sys_user")
        def server_info() -> dict[str, str]:
            return {"baseUrl": base_url}

    def seed(self, changes: list[SeedChange]) -> None:
        self.changes = changes

"""Outbound Jira webhooks: real-shaped event bodies, HMAC-signed, handed to the dispatcher.

Bodies follow Jira's admin webhooks (shared/reference/jira-webhooks): `jira:issue_created`,
`jira:issue_updated` (issue_event_type_name issue_updated, issue_generic for transitions,
issue_commented), `jira:issue_deleted`, `comment_created` and `comment_updated`. The issue
is the v2 shape with all fields, timestamps in the site's zone (UTC). Signed like Jira does
with a secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`; each event gets its own
`X-Atlassian-Webhook-Identifier` (the dispatcher repeats it on duplicates).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.sandbox.catalog import USERS_BY_LOGIN
from connector.sandbox.jira import render
from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.store import Comment, History, Issue
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import Delivery, WebhookDispatcher

_SITE_TZ = ZoneInfo("UTC")


class JiraWebhooks:
    def __init__(
        self, state: SandboxState, dispatcher: WebhookDispatcher, base_url: str, fs: FieldSet
    ) -> None:
        self.state = state
        self.dispatcher = dispatcher
        self.view = render.View(base_url, "2", state.options.mode == "cloud", _SITE_TZ, fs)

    def issue_event(
        self,
        event: str,
        type_name: str,
        issue: Issue,
        actor: str,
        history: History | None = None,
        comment: Comment | None = None,
    ) -> None:
        if not self.state.options.jira_webhook_url:
            return  # rendering every field of the issue is not free: skip it when unused
        body: dict[str, Any] = {
            "timestamp": self._now_ms(),
            "webhookEvent": event,
            "issue_event_type_name": type_name,
            "user": self.user(actor),
            "issue": self.issue(issue),
        }
        if history is not None:
            body["changelog"] = {
                "id": str(history.id),
                "items": [render.change_item(item) for item in history.items],
            }
        if comment is not None:
            body["comment"] = render.comment_json(issue, comment, self.view)
        self._send(body)

    def issue_deleted(self, issue: Issue, actor: str) -> None:
        """`jira:issue_deleted`: the issue as it was, no changelog (issue_deleted.json)."""
        if not self.state.options.jira_webhook_url:
            return
        self._send(
            {
                "webhookEvent": "jira:issue_deleted",
                "issue_event_type_name": "issue_deleted",
                "timestamp": self._now_ms(),
                "user": self.user(actor),
                "issue": self.issue(issue),
            }
        )

    def comment_event(self, event: str, issue: Issue, comment: Comment) -> None:
        if not self.state.options.jira_webhook_url:
            return
        slim = ("summary", "issuetype", "project", "assignee", "priority", "status")
        issue_json = render.issue_json(issue, self.view, list(slim), set())
        issue_json.pop("expand")
        self._send(
            {
                "timestamp": self._now_ms(),
                "webhookEvent": event,
                "comment": render.comment_json(issue, comment, self.view),
                "issue": issue_json,
            }
        )

    def user(self, login: str) -> dict[str, Any]:
        """The event's `user`: the legacy shape Jira webhooks carry (name, key and accountId)."""
        u = USERS_BY_LOGIN[login]
        shaped = render.user(login, self.view) or {}
        return {
            "self": f"{self.view.api}/user?accountId={u.account_id}",
            "name": u.login,
            "accountId": u.account_id,
            "key": u.login,
            "emailAddress": u.email,
            "avatarUrls": shaped["avatarUrls"],
            "displayName": u.display_name,
            "active": True,
            "timeZone": u.time_zone,
        }

    def issue(self, issue: Issue) -> dict[str, Any]:
        out = render.issue_json(issue, self.view, list(self.view.fs.rendered), set())
        out.pop("expand")
        return out

    def _now_ms(self) -> int:
        now: datetime = self.state.now()
        return int(now.timestamp() * 1000)

    def _send(self, body: dict[str, Any]) -> None:
        url = self.state.options.jira_webhook_url
        if not url:
            return
        raw = json.dumps(body, ensure_ascii=False).encode()
        signature = hmac.new(
            self.state.options.webhook_secret.encode(), raw, hashlib.sha256
        ).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature": f"sha256={signature}",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "User-Agent": "Atlassian Webhook HTTP Client",
        }
        self.dispatcher.enqueue(Delivery(url, raw, headers))

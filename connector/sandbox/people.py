"""The sandbox's outside world at work: its people in Jira, and a pipeline asking the worker.

The demo drives the worker as the real world would: `JiraPeople` are the requester moving a
change's planned window and the approvers answering their approvals, over the sandbox Jira's
documented REST APIs (Jira's issue API, the service desk's approval API), as each user;
`Pipeline` is any CI/CD pipeline (Jenkins, a script) using the worker's generic gate API:
`POST /gates` (optionally long-polling with `?wait=`) and `POST /deployments`, with the gate's
bearer token. Neither knows the worker's code: only HTTP, like the systems they stand for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from connector.sandbox.catalog import USERS_BY_LOGIN
from connector.sandbox.server import SandboxInfo

TIMEOUT = 30


class JiraPeople:
    """The sandbox's people at work in its Jira, over its REST APIs."""

    def __init__(self, info: SandboxInfo) -> None:
        self.info = info

    def _call(self, method: str, path: str, *, user: str, **kw: Any) -> Any:
        response = requests.request(
            method,
            f"{self.info.jira_url}{path}",
            auth=self.info.credentials(user),
            verify=self.info.ca_bundle,
            timeout=TIMEOUT,
            **kw,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def plan(self, key: str, start: datetime, end: datetime) -> None:
        """The planned window of `key` moves to [start, end) (before approval: no drift)."""
        field_id = self.info.jira_field_id
        fields = {
            field_id("Change start date"): start.isoformat(timespec="milliseconds"),
            field_id("Change completion date"): end.isoformat(timespec="milliseconds"),
        }
        self._call("PUT", f"/rest/api/2/issue/{key}", user="admin", json={"fields": fields})

    def approve(self, key: str) -> int:
        """Each pending approval of request `key` is approved by its approver; how many."""
        page = self._call("GET", f"/rest/servicedeskapi/request/{key}/approval", user="admin")
        done = 0
        for approval in page["values"]:
            if approval["finalDecision"] != "pending":
                continue
            name = approval["approvers"][0]["approver"]["displayName"]
            login = next(u.login for u in USERS_BY_LOGIN.values() if u.display_name == name)
            self._call(
                "POST",
                f"/rest/servicedeskapi/request/{key}/approval/{approval['id']}",
                user=login,
                json={"decision": "approve"},
            )
            done += 1
        return done


class Pipeline:
    """A pipeline using the worker's generic gate: gate questions and deployment reports."""

    def __init__(self, url: str, token: str, *, env: str, commit: str) -> None:
        self.url, self.env, self.commit = url, env, commit
        self.headers = {"Authorization": f"Bearer {token}"}

    def gate(self, change: str, service: str, *, wait: float = 0) -> dict[str, Any]:
        """`POST /gates`: may `service` at this commit go to the environment under `change`?"""
        body = {"change": change, "env": self.env, "service": service, "commit": self.commit}
        body["triggered_by"] = "deploy-bot"
        return self._post("/gates", body, params={"wait": wait}, timeout=wait + TIMEOUT)

    def deployed(self, service: str, *, reference: str, change: str | None) -> dict[str, Any]:
        """`POST /deployments`: `service` went to the environment (successfully)."""
        body = {"service": service, "env": self.env, "reference": reference}
        body |= {"commit": self.commit, "outcome": "success", "triggered_by": "jenkins"}
        if change:
            body["change"] = change
        return self._post("/deployments", body, timeout=TIMEOUT)

    def _post(self, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = requests.post(self.url + path, json=body, headers=self.headers, **kw)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

"""Helpers for the policy's end-to-end tests: act on the sandbox as its people do (requesters
fill in fields, approvers answer approvals, implementers move tickets) over its real APIs, and
read back what the worker wrote. One class per system, with the same methods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sync_helpers import running_sandbox

from connector.sandbox import Sandbox
from connector.sandbox.catalog import USERS_BY_LOGIN
from connector.sandbox.jira.seed import project_of
from connector.sandbox.scenario import generate
from connector.sandbox.scenario_model import SeedChange

TIMEOUT = 30


def pick(
    seeds: list[SeedChange], test: Callable[[SeedChange], bool], *, n: int = 1
) -> list[SeedChange]:
    found = [s for s in seeds if s.planted is None and test(s)]
    assert len(found) >= n, "the seeded scenario has no such change"
    return found[:n]


class JiraOps:
    name = "sandbox-jira"

    def __init__(self, sandbox: Sandbox, seeds: list[SeedChange]) -> None:
        self.sandbox, self.info, self.seeds = sandbox, sandbox.info, seeds
        self.planted = {s.planted: s for s in seeds if s.planted}
        self.keys: dict[int, str] = {}
        counters: dict[str, int] = {}
        for s in seeds:
            project = project_of(s)
            counters[project] = counters.get(project, 0) + 1
            self.keys[s.index] = f"{project}-{counters[project]}"

    def key(self, seed: SeedChange) -> str:
        return self.keys[seed.index]

    def cf(self, name: str) -> str:
        """This sandbox's id of the custom field `name` (ids differ between sandboxes)."""
        return self.sandbox.jira_field_id(name)

    def _call(self, method: str, path: str, *, user: str, **kw: Any) -> Any:
        response = requests.request(
            method,
            f"{self.info.jira_url}{path}",
            auth=self.info.credentials(user),
            verify=self.info.ca_bundle,
            timeout=TIMEOUT,
            **kw,
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def issue(self, seed: SeedChange) -> dict[str, Any]:
        data: dict[str, Any] = self._call(
            "GET", f"/rest/api/2/issue/{self.key(seed)}", user="admin"
        )
        return data

    def status(self, seed: SeedChange) -> str:
        return str(self.issue(seed)["fields"]["status"]["name"])

    def labels(self, seed: SeedChange) -> list[str]:
        return list(self.issue(seed)["fields"]["labels"])

    def _comments(self, seed: SeedChange) -> list[dict[str, Any]]:
        """The ticket's comments with their properties, read as Jira documents it: ids from
        the issue's comments, properties from `comment/list` (Cloud) or per comment (DC)."""
        page = self._call("GET", f"/rest/api/2/issue/{self.key(seed)}/comment", user="admin")
        comments: list[dict[str, Any]] = page["comments"]
        if not comments:
            return []
        if self.info.mode == "cloud":
            listed = self._call(
                "POST",
                "/rest/api/2/comment/list",
                user="admin",
                params={"expand": "properties"},
                json={"ids": [int(c["id"]) for c in comments]},
            )
            by_id = {str(c["id"]): c.get("properties", []) for c in listed["values"]}
        else:
            by_id = {str(c["id"]): self._comment_properties(str(c["id"])) for c in comments}
        return [{**c, "properties": by_id.get(str(c["id"]), [])} for c in comments]

    def _comment_properties(self, comment_id: str) -> list[dict[str, Any]]:
        keys = self._call("GET", f"/rest/api/2/comment/{comment_id}/properties", user="admin")
        return [
            self._call(
                "GET", f"/rest/api/2/comment/{comment_id}/properties/{k['key']}", user="admin"
            )
            for k in keys["keys"]
        ]

    def notes(self, seed: SeedChange) -> list[tuple[str, str]]:
        """(id, body) of the worker's comments on the ticket, oldest first."""
        page = self._call("GET", f"/rest/api/2/issue/{self.key(seed)}/comment", user="admin")
        return [
            (str(c["id"]), c["body"])
            for c in page["comments"]
            if c["author"]["displayName"] == "Change Connector"
        ]

    def marked(self, seed: SeedChange, prefix: str) -> list[tuple[str, str, bool]]:
        """(id, body, public) of the comments whose marker starts with `prefix`."""
        out = []
        for c in self._comments(seed):
            props = {p["key"]: p["value"] for p in c.get("properties", [])}
            marker = str((props.get("change-connector") or {}).get("marker", ""))
            if marker.startswith(prefix):
                internal = bool((props.get("sd.public.comment") or {}).get("internal"))
                out.append((str(c["id"]), c["body"], not internal))
        return out

    def make_customer_facing(self, seed: SeedChange, *, user: str) -> None:
        self._call(
            "PUT",
            f"/rest/api/2/issue/{self.key(seed)}",
            user=user,
            json={
                "fields": {
                    self.cf("Customer facing"): {"value": "Yes"},
                    self.cf("Audiences"): [{"value": "All users"}, {"value": "Admins"}],
                }
            },
        )

    def edit_title(self, seed: SeedChange, title: str, *, user: str) -> None:
        self._call(
            "PUT",
            f"/rest/api/2/issue/{self.key(seed)}",
            user=user,
            json={"fields": {"summary": title}},
        )

    def fill(self, seed: SeedChange, *, user: str) -> None:
        """Give the change every field a major change needs."""
        start = datetime(2026, 12, 1, 9, 0).astimezone()
        self._call(
            "PUT",
            f"/rest/api/2/issue/{self.key(seed)}",
            user=user,
            json={
                "fields": {
                    self.cf("Affected systems"): [{"value": "payments-api"}],
                    self.cf("Rollback plan"): "Redeploy the previous build.",
                    self.cf("Implementation plan"): "Drain, deploy, verify.",
                    self.cf("Test plan"): "Smoke tests.",
                    self.cf("Justification"): "Keeps the platform supported.",
                    self.cf("Security impact"): {"value": "Low"},
                    self.cf("InfoSec categories"): [{"value": "System usage"}],
                    self.cf("Change start date"): start.isoformat(timespec="milliseconds"),
                    self.cf("Change completion date"): (start + timedelta(hours=2)).isoformat(
                        timespec="milliseconds"
                    ),
                }
            },
        )

    def edit_rollback(self, seed: SeedChange, text: str, *, user: str) -> None:
        self._call(
            "PUT",
            f"/rest/api/2/issue/{self.key(seed)}",
            user=user,
            json={"fields": {self.cf("Rollback plan"): text}},
        )

    def decide_in_field(self, seed: SeedChange, decision: str, *, user: str) -> None:
        """A board member sets the ticket's CAB decision field ("Approve", "Reject", ...)."""
        self._call(
            "PUT",
            f"/rest/api/2/issue/{self.key(seed)}",
            user=user,
            json={"fields": {self.cf("CAB decision"): {"value": decision}}},
        )

    def approve(self, seed: SeedChange, *, group: str, decision: str = "approve") -> None:
        """The approver of the pending approval of `group` answers it (JSM's approval API)."""
        key = self.key(seed)
        page = self._call("GET", f"/rest/servicedeskapi/request/{key}/approval", user="admin")
        pending = [
            a for a in page["values"] if a["name"] == group and a["finalDecision"] == "pending"
        ]
        assert pending, f"{key} has no pending {group} approval"
        approver = pending[0]["approvers"][0]["approver"]["displayName"]
        login = next(u.login for u in USERS_BY_LOGIN.values() if u.display_name == approver)
        self._call(
            "POST",
            f"/rest/servicedeskapi/request/{key}/approval/{pending[0]['id']}",
            user=login,
            json={"decision": decision},
        )

    def move(self, seed: SeedChange, transition: str, *, user: str, **fields: Any) -> None:
        key = self.key(seed)
        offered = self._call("GET", f"/rest/api/2/issue/{key}/transitions", user=user)
        match = next(t for t in offered["transitions"] if t["name"] == transition)
        self._call(
            "POST",
            f"/rest/api/2/issue/{key}/transitions",
            user=user,
            json={"transition": {"id": match["id"]}, "fields": fields},
        )

    def implement(self, seed: SeedChange, *, user: str, start: datetime, end: datetime) -> None:
        self.move(seed, "Start implementation", user=user)
        self._call(
            "PUT",
            f"/rest/api/2/issue/{self.key(seed)}",
            user=user,
            json={
                "fields": {
                    self.cf("Actual start"): start.isoformat(timespec="milliseconds"),
                    self.cf("Actual end"): end.isoformat(timespec="milliseconds"),
                }
            },
        )
        self.move(seed, "Implemented", user=user)


class ServiceNowOps:
    name = "sandbox-servicenow"

    def __init__(self, sandbox: Sandbox, seeds: list[SeedChange]) -> None:
        self.sandbox, self.info, self.seeds = sandbox, sandbox.info, seeds
        self.planted = {s.planted: s for s in seeds if s.planted}

    def key(self, seed: SeedChange) -> str:
        return f"CHG{30000 + seed.index + 1:07d}"

    def _call(self, method: str, path: str, *, user: str, **kw: Any) -> Any:
        response = requests.request(
            method,
            f"{self.info.servicenow_url}/api/now/table/{path}",
            auth=self.info.credentials(user, "servicenow"),
            verify=self.info.ca_bundle,
            timeout=TIMEOUT,
            **kw,
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()["result"] if response.content else None

    def record(self, seed: SeedChange) -> dict[str, Any]:
        rows = self._call(
            "GET",
            "change_request",
            user="admin",
            params={"sysparm_query": f"number={self.key(seed)}", "sysparm_limit": 1},
        )
        assert rows, self.key(seed)
        row: dict[str, Any] = rows[0]
        return row

    def sys_id(self, seed: SeedChange) -> str:
        return str(self.record(seed)["sys_id"])

    def status(self, seed: SeedChange) -> str:
        """state, plus the approval and hold flags the mapping's status rules read."""
        row = self.record(seed)
        return f"{row['state']}|{row['approval']}|hold={row['on_hold']}"

    def labels(self, seed: SeedChange) -> list[str]:
        return []

    def notes(self, seed: SeedChange) -> list[tuple[str, str]]:
        rows = self._call(
            "GET",
            "sys_journal_field",
            user="admin",
            params={
                "sysparm_query": f"element_id={self.sys_id(seed)}^element=work_notes"
                "^ORDERBYsys_created_on",
                "sysparm_limit": 1000,
            },
        )
        return [(r["sys_id"], r["value"]) for r in rows if "[cc:" in r["value"]]

    def marked(self, seed: SeedChange, prefix: str) -> list[tuple[str, str, bool]]:
        """(id, body, public) of the journal entries tagged with a marker starting `prefix`."""
        rows = self._call(
            "GET",
            "sys_journal_field",
            user="admin",
            params={
                "sysparm_query": f"element_id={self.sys_id(seed)}^ORDERBYsys_created_on",
                "sysparm_limit": 1000,
            },
        )
        return [
            (r["sys_id"], r["value"], r["element"] == "comments")
            for r in rows
            if f"[cc:{prefix}" in r["value"]
        ]

    def make_customer_facing(self, seed: SeedChange, *, user: str) -> None:
        self.update(seed, user=user, u_customer_facing="true", u_audiences="all_users,admins")

    def edit_title(self, seed: SeedChange, title: str, *, user: str) -> None:
        self.update(seed, user=user, short_description=title)

    def update(self, seed: SeedChange, *, user: str, **values: Any) -> None:
        self._call("PATCH", f"change_request/{self.sys_id(seed)}", user=user, json=values)

    def fill(self, seed: SeedChange, *, user: str) -> None:
        from connector.sandbox.catalog import CONFIGURATION_ITEMS

        ci = next(c.sys_id for c in CONFIGURATION_ITEMS if c.name == "payments-api")
        self.update(
            seed,
            user=user,
            u_affected_systems=ci,
            backout_plan="Redeploy the previous build.",
            implementation_plan="Drain, deploy, verify.",
            test_plan="Smoke tests.",
            justification="Keeps the platform supported.",
            u_security_impact="low",
            u_infosec_categories="system_usage",
            start_date="2026-12-01 09:00:00",
            end_date="2026-12-01 11:00:00",
        )

    def edit_rollback(self, seed: SeedChange, text: str, *, user: str) -> None:
        self.update(seed, user=user, backout_plan=text)

    def decide_in_field(self, seed: SeedChange, decision: str, *, user: str) -> None:
        self.update(seed, user=user, cab_recommendation=decision)

    def approve(self, seed: SeedChange, *, group: str, decision: str = "approve") -> None:
        rows = self._call(
            "GET",
            "sysapproval_approver",
            user="admin",
            params={
                "sysparm_query": f"sysapproval={self.sys_id(seed)}^state=requested",
                "sysparm_display_value": "all",
            },
        )
        pending = [r for r in rows if r["group"]["display_value"] == group]
        assert pending, f"{self.key(seed)} has no pending {group} approval"
        approver_id = pending[0]["approver"]["value"]
        login = next(u.login for u in USERS_BY_LOGIN.values() if u.sys_id == approver_id)
        state = "approved" if decision == "approve" else "rejected"
        self._call(
            "PATCH",
            f"sysapproval_approver/{pending[0]['sys_id']['value']}",
            user=login,
            json={"state": state},
        )

    def implement(self, seed: SeedChange, *, user: str, start: datetime, end: datetime) -> None:
        fmt = "%Y-%m-%d %H:%M:%S"
        self.update(
            seed,
            user=user,
            state="0",
            work_start=_utc(start, fmt),
            work_end=_utc(end, fmt),
        )


def _utc(moment: datetime, fmt: str) -> str:
    return moment.astimezone(UTC).strftime(fmt)


Ops = JiraOps | ServiceNowOps


def set_window(ops: Ops, seed: SeedChange, start: datetime, end: datetime) -> None:
    """The requester moves the planned window (before approval: no drift)."""
    if isinstance(ops, JiraOps):
        fields = {
            ops.cf("Change start date"): start.isoformat(timespec="milliseconds"),
            ops.cf("Change completion date"): end.isoformat(timespec="milliseconds"),
        }
        ops._call(
            "PUT", f"/rest/api/2/issue/{ops.key(seed)}", user="admin", json={"fields": fields}
        )
    else:
        fmt = "%Y-%m-%d %H:%M:%S"
        ops.update(seed, user="admin", start_date=start.strftime(fmt), end_date=end.strftime(fmt))


def seeded_fixtures(*, count: int, random_seed: int) -> tuple[Any, Any]:
    """A module's `sandbox` (seeded with `count` changes: Jira with `random_seed`, ServiceNow
    with `random_seed + 1`) and `ops` (each test once per system, acting on that system's seeds)
    fixtures: `sandbox, ops = seeded_fixtures(count=COUNT, random_seed=RANDOM_SEED)`."""

    @pytest.fixture
    def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
        with running_sandbox(tmp_path, seed_count=count, random_seed=random_seed) as box:
            yield box

    @pytest.fixture(params=["jira", "servicenow"])
    def ops(request: pytest.FixtureRequest, sandbox: Sandbox) -> Ops:
        if request.param == "jira":
            return JiraOps(sandbox, generate(count, random_seed=random_seed))
        return ServiceNowOps(sandbox, generate(count, random_seed=random_seed + 1))

    return sandbox, ops

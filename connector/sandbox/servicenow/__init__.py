"""ServiceNow Table API simulator: routes, auth, paging, and the write path's side effects.

Mounted at `/servicenow`, so `https://127.0.0.1:PORT/servicenow` is the instance URL that pysnc
and plain `requests` use:

    GET    /api/now/table/{table}             list: sysparm_query, _limit, _offset, _fields,
                                              _display_value, _exclude_reference_link,
                                              _suppress_pagination_header; X-Total-Count, Link
    GET    /api/now/table/{table}/{sys_id}    one record
    POST   /api/now/table/{table}             insert (201)
    PATCH  /api/now/table/{table}/{sys_id}    update the given columns (PUT is the same)
    DELETE /api/now/table/{table}/{sys_id}    delete (204; change_request: admin only)

(`/api/now/v1/table/...` too.) Callers authenticate with HTTP Basic: sandbox user name and token.
Each call is checked against the ACLs of `acl.py` for the caller's roles
(`catalog.SERVICENOW_ROLES`): 403 for a table the user may not read or write, rows a row rule
hides left out. `sys_dictionary` and `sys_choice` describe the tables (`meta.py`).
Records live in `store.py`, queries in `query.py`, response shapes in `present.py`, the seed in
`render.py` and the outbound business-rule webhook in `webhooks.py`. Each request runs under the
sandbox lock, so it is atomic with respect to every other request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from connector.sandbox.catalog import SERVICENOW_ROLES, SandboxUser
from connector.sandbox.scenario_model import SeedChange
from connector.sandbox.servicenow import acl, render, webhooks
from connector.sandbox.servicenow.present import DisplayMode, View, present
from connector.sandbox.servicenow.store import Row, Store, Table
from connector.sandbox.state import SandboxState, basic_auth_user
from connector.sandbox.webhooks_out import Delivery, WebhookDispatcher

DEFAULT_LIMIT = 10000


def _error(status: int, message: str, detail: str | None) -> JSONResponse:
    body = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return JSONResponse(body, status_code=status)


def _unauthorized() -> JSONResponse:
    response = _error(401, "User Not Authenticated", "Required to provide Auth information")
    response.headers["WWW-Authenticate"] = 'Basic realm="Service-now"'
    return response


def _no_table(name: str) -> JSONResponse:
    return _error(400, f"Invalid table {name}", None)


def _no_record() -> JSONResponse:
    return _error(
        404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
    )


def _not_authorized(name: str) -> JSONResponse:
    return _error(403, "User Not Authorized", f"User is unauthorized to access table: {name}")


_REFUSED = {"write": "Update", "create": "Insert", "delete": "Delete"}


def _acl_refused(op: acl.Operation) -> JSONResponse:
    return _error(
        403, "Operation Failed", f"ACL Exception {_REFUSED[op]} Failed due to security constraints"
    )


def roles_of(user: SandboxUser) -> frozenset[str]:
    return acl.effective(SERVICENOW_ROLES.get(user.login, ()))


class ServiceNowSimulator:
    def __init__(self, state: SandboxState, *, base_url: str, webhooks: WebhookDispatcher) -> None:
        self.state = state
        self.base_url = base_url
        self.webhooks = webhooks
        self.store = Store()
        self._outbox: list[Delivery] = []  # webhooks of the current request
        self.router = APIRouter()
        for prefix in ("/api/now/table", "/api/now/v1/table"):
            self.router.add_api_route(f"{prefix}/{{table}}", self._list, methods=["GET"])
            self.router.add_api_route(f"{prefix}/{{table}}", self._insert, methods=["POST"])
            self.router.add_api_route(f"{prefix}/{{table}}/{{sys_id}}", self._get, methods=["GET"])
            self.router.add_api_route(
                f"{prefix}/{{table}}/{{sys_id}}", self._update, methods=["PATCH", "PUT"]
            )
            self.router.add_api_route(
                f"{prefix}/{{table}}/{{sys_id}}", self._delete, methods=["DELETE"]
            )

    def seed(self, changes: list[SeedChange]) -> None:
        with self.state.lock:
            self.store = Store()
            # Reference data predates every seeded change; a fixed instant keeps seeds repeatable.
            render.seed(self.store, changes, self.state.options.base_time - timedelta(days=365))

    # -- routes ----------------------------------------------------------------------------

    async def _list(self, request: Request, table: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        params = request.query_params
        return await run_in_threadpool(self._locked, self._list_rows, table, params, user)

    async def _get(self, request: Request, table: str, sys_id: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        params = request.query_params
        return await run_in_threadpool(self._locked, self._get_row, table, sys_id, params, user)

    async def _insert(self, request: Request, table: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        params = request.query_params
        return await run_in_threadpool(self._locked, self._insert_row, table, body, params, user)

    async def _update(self, request: Request, table: str, sys_id: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        params = request.query_params
        return await run_in_threadpool(
            self._locked, self._update_row, table, sys_id, body, params, user
        )

    async def _delete(self, request: Request, table: str, sys_id: str) -> Response:
        user = self._authenticate(request)
        if user is None:
            return _unauthorized()
        return await run_in_threadpool(self._locked, self._delete_row, table, sys_id, user)

    # -- the work, under the sandbox lock ----------------------------------------------------

    def _locked(self, work: Callable[..., Response], *args: Any) -> Response:
        with self.state.lock:
            response = work(*args)
            deliveries, self._outbox = self._outbox, []
        for delivery in deliveries:  # outside the lock: the dispatcher has its own queue
            self.webhooks.enqueue(delivery)
        return response

    def _list_rows(self, name: str, params: Mapping[str, str], user: SandboxUser) -> Response:
        table = self.store.table(name)
        if table is None:
            return _no_table(name)
        roles = roles_of(user)
        if not acl.table_allowed(roles, table.name, "read"):
            return _not_authorized(name)
        rows = self.store.query(table, params.get("sysparm_query", ""))
        # Rows a row rule hides are left out before paging, as the instance's query does.
        if acl.rows_filtered(roles, table.name):
            rows = [
                r for r in rows if acl.row_readable(roles, table.name, r, user_sys_id=user.sys_id)
            ]
        limit = _int(params.get("sysparm_limit"), DEFAULT_LIMIT, minimum=1)
        offset = _int(params.get("sysparm_offset"), 0, minimum=0)
        view = self._view(params, user)
        result = [present(self.store, table, row, view) for row in rows[offset : offset + limit]]
        headers = {"X-Total-Count": str(len(rows))}
        if params.get("sysparm_suppress_pagination_header", "").lower() != "true":
            headers["Link"] = self._links(name, params, offset, limit, len(rows))
        return JSONResponse({"result": result}, headers=headers)

    def _get_row(
        self, name: str, sys_id: str, params: Mapping[str, str], user: SandboxUser
    ) -> Response:
        table = self.store.table(name)
        if table is None:
            return _no_table(name)
        roles = roles_of(user)
        if not acl.table_allowed(roles, table.name, "read"):
            return _not_authorized(name)
        row = table.rows.get(sys_id)
        if row is None or not acl.row_readable(roles, table.name, row, user_sys_id=user.sys_id):
            return _no_record()
        return JSONResponse({"result": present(self.store, table, row, self._view(params, user))})

    def _insert_row(
        self, name: str, body: dict[str, Any], params: Mapping[str, str], user: SandboxUser
    ) -> Response:
        table = self.store.table(name)
        if table is None:
            return _no_table(name)
        if not acl.table_allowed(roles_of(user), table.name, "create"):
            return _acl_refused("create")
        row, changed = self.store.insert(table, body, user=user.login, now=self.state.now())
        self._notify(table, row, inserted=True, changed=changed)
        view = self._view(params, user)
        return JSONResponse({"result": present(self.store, table, row, view)}, status_code=201)

    def _update_row(
        self,
        name: str,
        sys_id: str,
        body: dict[str, Any],
        params: Mapping[str, str],
        user: SandboxUser,
    ) -> Response:
        table = self.store.table(name)
        if table is None:
            return _no_table(name)
        roles = roles_of(user)
        row = table.rows.get(sys_id)
        if row is None or not acl.row_readable(roles, table.name, row, user_sys_id=user.sys_id):
            return _no_record()
        if not acl.table_allowed(roles, table.name, "write") or not acl.row_writable(
            roles, table.name, row, user_sys_id=user.sys_id
        ):
            return _acl_refused("write")
        changed = self.store.write(table, row, body, user=user.login, now=self.state.now())
        self._notify(table, row, inserted=False, changed=changed)
        if name == "sysapproval_approver" and "state" in changed:
            self._roll_up(row, user)
        return JSONResponse({"result": present(self.store, table, row, self._view(params, user))})

    def _roll_up(self, approval: Row, user: SandboxUser) -> None:
        """The approval engine: an answered approval is noted in the task's approval history,
        and the task's `approval` follows its approvals (one rejected: rejected, and the change
        back to New; all approved: approved; else requested), so the change record itself is
        updated, as on an instance."""
        approvals = self.store.table("sysapproval_approver")
        tasks = self.store.table("change_request")
        assert approvals is not None and tasks is not None
        task = tasks.rows.get(approvals.get(approval, "sysapproval"))
        if task is None:
            return
        states = [
            approvals.get(r, "state")
            for r in approvals.rows.values()
            if approvals.get(r, "sysapproval") == task["sys_id"]
            and approvals.get(r, "state") not in ("cancelled", "not requested", "not_required")
        ]
        rollup = (
            "rejected"
            if "rejected" in states
            else "approved"
            if states and all(s == "approved" for s in states)
            else "requested"
        )
        entry = f"{user.display_name} {approvals.get(approval, 'state')} the task."
        history = "\n".join(p for p in (entry, tasks.get(task, "approval_history")) if p)
        values = {"approval": rollup, "approval_history": history}
        if rollup == "rejected":
            values["state"] = "-5"  # a rejected change goes back to New
        changed = self.store.write(tasks, task, values, user=user.login, now=self.state.now())
        self._notify(tasks, task, inserted=False, changed=changed)

    def _delete_row(self, name: str, sys_id: str, user: SandboxUser) -> Response:
        table = self.store.table(name)
        if table is None:
            return _no_table(name)
        if sys_id not in table.rows:
            return _no_record()
        if not acl.table_allowed(roles_of(user), table.name, "delete"):
            return _acl_refused("delete")
        self.store.delete(table, sys_id)
        return Response(status_code=204)

    def delete_change(self, number: str) -> str:
        """Test control: delete a change_request as an admin would (its approvals go with it,
        by the task's cascade rule). Returns its sys_id; later reads answer 404."""
        with self.state.lock:
            changes = self.store.tables["change_request"]
            sys_id = next(
                (k for k, r in changes.rows.items() if changes.get(r, "number") == number), None
            )
            if sys_id is None:
                raise KeyError(number)
            self.store.delete(changes, sys_id)
            return sys_id

    # -- helpers ---------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> SandboxUser | None:
        user = basic_auth_user(request.headers.get("authorization"), login_field="login")
        if user is not None:
            request.state.sandbox_user = user.login
        return user

    def _view(self, params: Mapping[str, str], user: SandboxUser) -> View:
        mode = params.get("sysparm_display_value", "false").lower()
        fields = [f.strip() for f in params.get("sysparm_fields", "").split(",") if f.strip()]
        users = self.store.tables["sys_user"]
        me = users.rows.get(user.sys_id)
        return View(
            fields=tuple(fields) or None,
            mode=_display_mode(mode),
            links=params.get("sysparm_exclude_reference_link", "").lower() != "true",
            # The caller's sys_user row, so a PATCH to its time_zone takes effect at once.
            zone=users.get(me, "time_zone") if me is not None else user.time_zone,
            base_url=self.base_url,
        )

    def _links(
        self, name: str, params: Mapping[str, str], offset: int, limit: int, total: int
    ) -> str:
        rest = [(k, v) for k, v in params.items() if k not in ("sysparm_offset", "sysparm_limit")]
        last = max(0, (total - 1) // limit * limit)
        pages = [("first", 0)]
        if offset > 0:
            pages.append(("prev", max(0, offset - limit)))
        if offset + limit < total:
            pages.append(("next", offset + limit))
        pages.append(("last", last))
        url = f"{self.base_url}/api/now/table/{name}"
        return ",".join(
            f"<{url}?{urlencode([('sysparm_offset', at), ('sysparm_limit', limit), *rest])}>"
            f';rel="{rel}"'
            for rel, at in pages
        )

    def _notify(
        self, table: Table, row: Mapping[str, str], *, inserted: bool, changed: list[str]
    ) -> None:
        """Queue the business rule's webhook; `_locked` sends it once the lock is released."""
        url = self.state.options.servicenow_webhook_url
        if url and changed and table.name == "change_request":
            self._outbox.append(
                webhooks.change_event(
                    url, self.state.options.webhook_secret, row, inserted=inserted, changed=changed
                )
            )


def _display_mode(text: str) -> DisplayMode:
    if text == "true":
        return "true"
    return "all" if text == "all" else "false"


def _int(text: str | None, default: int, *, minimum: int) -> int:
    try:
        return max(minimum, int(text)) if text else default
    except ValueError:
        return default


async def _json_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "Exception while reading request", "The payload is not valid JSON.")
    if isinstance(body, list):  # the instance works on the first record only
        body = body[0] if body else {}
    if not isinstance(body, dict):
        return _error(400, "Exception while reading request", "The payload is not valid JSON.")
    return body

"""The generic deployment gate on the worker's HTTP server: `POST /gates` and `POST /deployments`.

Any pipeline (Jenkins, Argo CD hooks, scripts) asks `POST /gates` whether a deploy may go ahead:
the body names the change (optional), the environment, the service, the commit and who triggered
it; the answer is `{verdict, reasons, change, source}` (`sync/gates.evaluate`, the same decision
GitHub and GitLab get), and `?wait=SECONDS` long-polls while the verdict is "wait". That route
is served by `gate_front.GateFront`; this module holds its request parsing and token check, and
the FastAPI route `POST /deployments`, which records a deployment as evidence
(`sync/gates.record_deployment`). Both behind the bearer token `deploy.gate_token` (compared in
constant time; 401 without it, 403 when none is configured); a bad body is a 400 with one line;
the store being down is a 503; never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from connector.core import secret_rules
from connector.core.deploy import Deployment, GateDecision
from connector.core.errors import ConnectorError
from connector.settings import Settings
from connector.store import Store
from connector.sync import gates

_TEXT_FIELDS = ("change", "env", "service", "commit", "triggered_by", "reference", "url")


class BadBody(ValueError):
    """The request body is not what the endpoint takes (one line, for a 400)."""


def add_gate_routes(
    app: FastAPI,
    settings: Settings,
    store: Store,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    @app.post("/deployments")
    async def deployments(request: Request) -> Response:
        refused = refusal(request, settings)
        if refused is not None:
            return refused
        try:
            deployment, outcome, finished = _deployment_body(await request.body(), now=clock())
        except BadBody as exc:
            return _error(400, str(exc))
        try:
            row, new = await run_in_threadpool(
                gates.record_deployment,
                store=store,
                settings=settings,
                deployment=deployment,
                outcome=outcome,
                finished_at=finished,
            )
        except ConnectorError as exc:
            return _error(503, exc.message)
        body = {
            "recorded": new,
            "reference": row.reference,
            "verdict": row.verdict,
            "reasons": list(row.reasons),
            "change": row.change_key,
            "source": row.change_source,
            "unauthorized": row.unauthorized,
            "outcome": row.outcome,
        }
        return JSONResponse(body, status_code=201 if new else 200)


def refusal(request: Request, settings: Settings) -> Response | None:
    """None when the request carries the gate token; else the 401 / 403 to answer."""
    refused = token_refusal(request.headers.get("authorization", ""), settings)
    if refused is None:
        return None
    response = _error(refused[0], refused[1])
    if refused[0] == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def token_refusal(authorization: str, settings: Settings) -> tuple[int, str] | None:
    """None when `authorization` carries the gate token (compared in constant time); else the
    status and message to refuse with."""
    token = settings.deploy.gate_token
    if token is None or not secret_rules.usable(token.get_secret_value()):
        return 403, "the gate API is off: set deploy.gate_token to turn it on"
    scheme, _, value = authorization.partition(" ")
    given = value.strip().encode()
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not given or not hmac.compare_digest(given, expected):
        return 401, "a bearer token is required"
    return None


def answer_body(decision: GateDecision) -> dict[str, Any]:
    return {
        "verdict": decision.verdict.value,
        "reasons": list(decision.reasons),
        "change": decision.change_key,
        "source": decision.source,
    }


def wait_seconds(text: str | None, settings: Settings) -> float:
    if text is None or text == "":
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        raise BadBody(f"wait: {text!r} is not a number of seconds") from None
    if not 0 <= seconds <= settings.deploy.max_wait_seconds:
        raise BadBody(f"wait: between 0 and {settings.deploy.max_wait_seconds:g} seconds")
    return seconds


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise BadBody("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadBody("the body must be a JSON object")
    for name in _TEXT_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise BadBody(f"{name}: must be a string")
    return data


def _required(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadBody(f"{name}: required (a non-empty string)")
    return value.strip()


def _reference(data: dict[str, Any], *parts: str) -> str:
    given = data.get("reference")
    if isinstance(given, str) and given.strip():
        return given.strip()
    # Deterministic, so the same deployment reported twice is one deployment.
    return "api-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _build(data: dict[str, Any], *, at: datetime, reference: str) -> Deployment:
    unknown = set(data) - {*_TEXT_FIELDS, "outcome", "started_at", "finished_at"}
    if unknown:
        raise BadBody(f"unknown field {sorted(unknown)[0]!r}")
    try:
        return Deployment(
            provider="api",
            reference=reference,
            service=_required(data, "service"),
            environment=_required(data, "env"),
            commit=(data.get("commit") or "").strip(),
            change_key=(data.get("change") or "").strip() or None,
            triggered_by=(data.get("triggered_by") or "").strip(),
            at=at,
            url=(data.get("url") or "").strip(),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadBody(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def gate_body(body: bytes, *, now: datetime) -> Deployment:
    data = _object(body)
    for name in ("outcome", "started_at", "finished_at"):
        if name in data:
            raise BadBody(f"unknown field {name!r}")
    reference = _reference(data, "gate", str(data.get("service")), str(data.get("env")), str(now))
    return _build(data, at=now, reference=reference)


def _moment(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadBody(f"{name}: an ISO 8601 time with an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadBody(f"{name}: {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise BadBody(f"{name}: give the offset (e.g. Z or +02:00)")
    return moment


def _deployment_body(
    body: bytes, *, now: datetime
) -> tuple[Deployment, gates.Outcome, datetime | None]:
    data = _object(body)
    outcome = data.get("outcome")
    if outcome not in ("success", "failure", "in_progress"):
        raise BadBody("outcome: one of success, failure, in_progress")
    started = _moment(data, "started_at") or now
    finished = _moment(data, "finished_at")
    if finished is not None and finished < started:
        raise BadBody("finished_at: before started_at")
    parts = (str(data.get(n)) for n in ("service", "env", "commit", "change"))
    reference = _reference(data, *parts, started.isoformat())
    deployment = _build(data, at=started, reference=reference)
    result: gates.Outcome = outcome
    return deployment, result, finished


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)

"""The report API on the worker's HTTP server: `GET /reports/changes?since=&until=&format=`,
and the change calendar `GET /calendar.ics?source=&system=&from=&until=`.

Behind a bearer token from the config (`server.report_token`); refused without it (401), and
switched off (403) when no token is configured. They read the store only, like `change-connector
report` and `change-connector calendar`, and answer in the same formats.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, tzinfo

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from connector.core import secret_rules
from connector.core.errors import ConnectorError
from connector.core.user_input import BadInput, parse_day
from connector.reports.summary import day_span
from connector.settings import Settings
from connector.store import Store

MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def add_report_routes(app: FastAPI, settings: Settings, store: Store) -> None:
    @app.get("/reports/changes")
    def changes(request: Request) -> Response:
        refused = _refused(request, settings)
        if refused is not None:
            return refused
        params = request.query_params
        fmt = params.get("format", "json")
        if fmt not in MEDIA:
            return _error(400, f"format: {fmt!r} is not one of {', '.join(MEDIA)}")
        try:
            since, until = _period(params.get("since"), params.get("until"), settings.policy.zone())
        except ValueError as exc:
            return _error(400, str(exc))
        from connector.reports.build import build_report
        from connector.reports.render import render

        try:
            rows, summary = build_report(settings, store, since=since, until=until)
        except ConnectorError as exc:
            return _error(503, exc.message)
        return Response(render(fmt, rows, summary), media_type=MEDIA[fmt])

    @app.get("/calendar.ics")
    def calendar(request: Request) -> Response:
        refused = _refused(request, settings, what="the calendar")
        if refused is not None:
            return refused
        from connector.reports.calendar import calendar_etag, calendar_ics, calendar_period

        params = request.query_params
        now = datetime.now(UTC)
        try:
            period = calendar_period(
                settings,
                now=now,
                first=params.get("from"),
                last=params.get("until"),
                source=params.get("source"),
                system=params.get("system"),
                names=("from", "until", "source", "system"),
            )
        except BadInput as exc:
            return _error(400, str(exc))
        try:
            text = calendar_ics(settings, store, period=period, now=now)
        except ConnectorError as exc:
            return _error(503, exc.message)
        # Calendar apps poll a subscription: an unchanged calendar is a 304 without a body.
        etag = calendar_etag(text)
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers={"ETag": etag})
        return Response(text, media_type="text/calendar; charset=utf-8", headers={"ETag": etag})


def _refused(
    request: Request, settings: Settings, *, what: str = "the report API"
) -> Response | None:
    token = settings.server.report_token
    if token is None or not secret_rules.usable(token.get_secret_value()):
        return _error(403, f"{what} is off: set server.report_token to turn it on")
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    expected = token.get_secret_value().encode()
    given_token = value.strip().encode()
    # An empty `Bearer ` never matches, whatever the configured token.
    if (
        scheme.lower() != "bearer"
        or not given_token
        or not hmac.compare_digest(given_token, expected)
    ):
        response = _error(401, "a bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return None


def _period(since: str | None, until: str | None, zone: tzinfo) -> tuple[datetime, datetime]:
    """[since 00:00, until 24:00) in the policy's time zone, as the CLI applies it."""
    if not since:
        raise ValueError("since: required (YYYY-MM-DD)")
    first = parse_day(since, "since")
    last = parse_day(until, "until") if until else datetime.now(zone).date()
    span = day_span(first, last, zone)
    if span is None:
        raise ValueError("until: before since")
    return span


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)

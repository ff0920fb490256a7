"""The HTTP shell of a running worker: webhook intake, report API, health and metrics.

`worker` runs the schedule (poll, drain) beside the HTTP server; `webhooks` verifies a
delivery, parses it with limits (`webhook_parse`), stores it in the inbox and answers 202;
`report_api` serves reports read from the store; `metrics` counts what the worker did and
`telemetry` says it in log lines (start-up, each poll, drained batch and write).
"""

"""Errors, named by what the caller does next.

Every error carries a message written for people; the CLI (the one place that turns exceptions
into exit codes) prints that message on one line and exits non-zero, never a traceback.

- ConfigError / MappingError: a person must fix a file or an argument; retrying will not help.
- TransientError: retry later (rate limit, outage); carries the server's Retry-After if any.
- PermanentError: the remote refused for good (400, 403, 404); skip this item and record why.
  NotFoundError (404) is one.
- TicketDeleted: the ticket is gone from its system (a PermanentError that is no failure):
  record it as deleted, drop it from the open lists, never retry it.
- SkipRecord: this one ticket cannot be processed (bad content); record it and go on.
- WriteFailed: a command finished, but writes to tickets failed (each recorded in the ledger
  with its reason): the message says which and why, the exit status is non-zero.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ConnectorError):
    """The configuration or a CLI argument is wrong: fix it and run again."""

    exit_code = 2


class MappingError(ConfigError):
    """A field mapping file is wrong: the message names the file, the key and the problem."""

    def __init__(self, *, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


class TransientError(ConnectorError):
    """Retry later; `retry_after` is the least number of seconds the server asked us to wait."""

    exit_code = 75  # EX_TEMPFAIL

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LeaseExpired(TransientError):
    """The lease of the claim a write runs under ran out before one of its requests went out:
    that request was not sent (a successor may take the action over), nor is it retried."""


class PermanentError(ConnectorError):
    """The remote refused for good: skip this item and record why."""


class NotFoundError(PermanentError):
    """The remote answered 404: what was asked for is not there (or not visible to the user)."""


class SkipRecord(ConnectorError):
    """One ticket cannot be processed (bad content): record it and go on with the rest."""


class TicketDeleted(PermanentError):
    """The ticket no longer exists in its system: record it as deleted and never retry it.

    Raised by an adapter's re-read when the system answers that the record is gone: a Jira
    GET of the issue that is 404, a ServiceNow GET by sys_id that is 404, or a query by number
    that finds nothing. Both systems give an API user the same answer for a ticket deleted,
    never created, or hidden from it by a permission; with the integration user's read access
    on the whole scope, the first is what it means. `key` is the ticket key the caller asked
    for.
    """

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class WriteFailed(ConnectorError):
    """Writes to tickets failed: the rest of the command's work is done and recorded."""

    @classmethod
    def of(cls, lines: list[str]) -> WriteFailed:
        """One line for people: the first failure, and how many more `status` lists."""
        more = (
            f" (and {len(lines) - 1} more: see `change-connector status`)" if len(lines) > 1 else ""
        )
        return cls(f"{len(lines)} write(s) to tickets failed: {lines[0]}{more}")

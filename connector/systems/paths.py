"""Values put into request paths and ServiceNow encoded queries, made unable to change either.

Keys are checked at intake (connector.core.keys), but the adapters quote every value they place in a
URL anyway, so that nothing read from a ticket, a config or an old inbox row can reach another
endpoint of the same host:

- `segment(value)`: one path segment, percent-encoded with no safe characters (`/`, `?`, `#`,
  `%` and spaces are encoded); an empty value and the dot segments `.` / `..`, which a server
  may resolve against the path, are refused.
- `query_value(value)`: a value in a ServiceNow encoded query (`number=<value>`). Encoded queries
  have no quoting: `^` separates conditions (`^OR`, `^NQ`, `^ORDERBY` start new ones) and `,`
  the items of an IN list, so a value with either, or a line break, is refused rather than sent.

Both refuse with `UnsafeValue`, a PermanentError: the value is wrong for good, no retry helps.
"""

from __future__ import annotations

from urllib.parse import quote

from connector.core.errors import PermanentError

_UNSAFE_QUERY = ("^", ",", "\n", "\r", "\x00")


class UnsafeValue(PermanentError):
    """A value that cannot be put into a request path or an encoded query as it is."""


def segment(value: str) -> str:
    """`value` as one percent-encoded path segment; UnsafeValue if it cannot be one."""
    if value in ("", ".", ".."):
        raise UnsafeValue(f"{value!r} cannot be a path segment")
    return quote(value, safe="")


def query_value(value: str) -> str:
    """`value` for a condition of a ServiceNow encoded query; UnsafeValue if it would add one."""
    if not value or any(c in value for c in _UNSAFE_QUERY):
        raise UnsafeValue(f"{value[:40]!r} cannot be a value of an encoded query")
    return value

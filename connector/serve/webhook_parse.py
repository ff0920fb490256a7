"""Webhook bodies parsed with limits, and the ticket key they name, checked for its system.

A signed body is still hostile input (a leaked secret, a careless script on the sender's side),
so the parse refuses (400) anything the store or a later reader could choke on: text that is not
UTF-8, JSON nested deeper than the limit, integers longer than `MAX_NUMBER_DIGITS` digits,
NaN / Infinity, strings with lone surrogates or NUL characters (PostgreSQL text cannot hold NUL),
and a ticket key that is not one of its system's format (connector.core.keys).
"""

from __future__ import annotations

import json
from typing import Any

from connector.core.keys import key_problem

#: Digits an integer in a webhook body may have (Python refuses more than 4300 by default).
MAX_NUMBER_DIGITS = 100
#: Characters a number literal of any kind may have.
MAX_NUMBER_LENGTH = 400


class Refused(Exception):
    """A request answered with `status` and `message`, storing nothing."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise Refused(400, f"body has an integer longer than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_LENGTH:
        raise Refused(400, f"body has a number longer than {MAX_NUMBER_LENGTH} characters")
    return float(text)


def _constant(text: str) -> Any:
    raise Refused(400, f"body has {text}, which JSON does not allow")


def parse_body(body: bytes, *, max_depth: int) -> tuple[str, dict[str, Any]]:
    """The body as text (stored as received) and as a JSON object, or `Refused` (400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not valid UTF-8 JSON") from None
    if "\x00" in text:
        raise Refused(400, "body has a NUL character")
    try:
        payload = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except json.JSONDecodeError:
        raise Refused(400, "body is not valid UTF-8 JSON") from None
    except RecursionError:
        raise Refused(400, f"body nested deeper than {max_depth} levels") from None
    if not isinstance(payload, dict):
        raise Refused(400, "body is not a JSON object")
    _check_tree(payload, max_depth)
    return text, payload


def _check_tree(payload: dict[str, Any], max_depth: int) -> None:
    """Depth, and every key and string value storable as text (no NUL, no lone surrogate)."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth and isinstance(node, dict | list):
            raise Refused(400, f"body nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(key)
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str):
            _check_text(node)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise Refused(400, "body has a NUL character in a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(400, "body has a string with a lone surrogate") from None


def ticket_key(system: str, payload: dict[str, Any]) -> str:
    """The key the body names, valid for `system`, or `Refused` (400)."""
    if system == "jira":
        issue = payload.get("issue")
        key = issue.get("key") if isinstance(issue, dict) else None
    else:
        key = payload.get("number") or payload.get("sys_id")
    if not isinstance(key, str) or not key.strip():
        raise Refused(400, "no ticket key in the body")
    problem = key_problem(system, key)
    if problem is not None:
        raise Refused(400, f"ticket key {problem}")
    return key

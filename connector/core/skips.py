"""Why a ticket was not recorded, as one of a few fixed reasons (a metric label, never text).

Normalization refuses a ticket with a one-line message (`SkipRecord`, see
connector/core/mapping/normalize.py) that names the key and the field; the message goes to the audit
trail and the status. A metric needs a bounded label instead: `reason_of` maps a message to one
of `REASONS` by its shape, and the drain adds the reasons only it sees (out of scope, deleted,
dropped from the inbox).
"""

from __future__ import annotations

import re

NO_IDENTITY = "no_identity"  # the ticket has no key or no native id
FIELD = "field"  # a mapped field's value could not be converted
STATUS = "status"  # the status is not in the mapping's status map
INVALID = "invalid"  # the normalized change fails the model's validation
OUT_OF_SCOPE = "out_of_scope"  # a webhook named a ticket that is not a change in scope
DELETED = "deleted"  # a webhook named a ticket deleted since
DROPPED = "dropped"  # an inbox row of an unknown source or with a key not of its system
OTHER = "other"

REASONS = (NO_IDENTITY, FIELD, STATUS, INVALID, OUT_OF_SCOPE, DELETED, DROPPED, OTHER)

_SHAPES = (
    (re.compile(r": ticket has no '[^']*' or no '[^']*'$"), NO_IDENTITY),
    (re.compile(r"^[^:]+: fields\.[\w.]+ \("), FIELD),
    (re.compile(r"^[^:]+: status \("), STATUS),
    (re.compile(r"^[^:]+: [^:]+: "), INVALID),
)


def reason_of(message: str) -> str:
    """The bounded reason of a normalization skip message."""
    for shape, reason in _SHAPES:
        if shape.search(message):
            return reason
    return OTHER

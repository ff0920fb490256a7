"""The sandbox instance's outbound webhook: what a customer's business rule would POST.

ServiceNow has no standard outbound webhook; customers script one (a business rule calling
RESTMessageV2). This one fires after every insert or update of a change_request, journal
writes included, with a small JSON body naming the record and what changed, signed as such
scripts usually sign: `X-ServiceNow-Signature: base64(HMAC-SHA256(secret, raw body))`, plus a
unique `X-ServiceNow-Event-Id`. It is a hint: the receiver must re-read the record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping

from connector.sandbox.webhooks_out import Delivery


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def change_event(
    url: str, secret: str, row: Mapping[str, str], *, inserted: bool, changed: list[str]
) -> Delivery:
    payload = {
        "event": "change_request.inserted" if inserted else "change_request.updated",
        "table": "change_request",
        "sys_id": row["sys_id"],
        "number": row.get("number", ""),
        "sys_updated_on": row.get("sys_updated_on", ""),
        "sys_updated_by": row.get("sys_updated_by", ""),
        "sys_mod_count": row.get("sys_mod_count", "0"),
        "changed_fields": changed,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-ServiceNow-Signature": sign(secret, body),
        "X-ServiceNow-Event-Id": uuid.uuid4().hex,
    }
    return Delivery(url, body, headers)

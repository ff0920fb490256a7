"""Anchors of the audit chain kept outside the database: one JSON line per anchor, appended.

    {"at": "2026-12-06T14:00:00+00:00", "seq": 1234, "links": 1234, "hash": "<64 hex>",
     "keyed": true, "by": "worker host:pid"}

`seq` is the newest link's number, which is also the number of links (seq counts from 1 without
gaps). Written by the worker at most every `audit.anchor_interval_seconds` and when it stops,
and by `audit export`; the admin points `audit.anchor_file` at storage the database's users
cannot rewrite. `audit verify` reads them back, and also takes `--anchor` arguments: an anchor
file, an `audit export` file (every exported link is an anchor, so a rehash is pinned to its
first altered link) or a bare head hash.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.core.errors import ConfigError
from connector.store.audit import Anchor
from connector.store.records import AuditRow

_HEX64 = re.compile(r"[0-9a-f]{64}")


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in an anchor file or an `audit export` file; a bad line is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such anchor file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {' '.join(str(exc).split())}") from None
    out: list[Anchor] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}: line {number}: not JSON") from None
        if _empty_export(value):
            continue
        anchor = _anchor(value, f"{path.name} line {number}")
        if anchor is None:
            raise ConfigError(f"{path}: line {number}: not an anchor (seq and 64-hex hash)")
        out.append(anchor)
    return out


def _empty_export(value: Any) -> bool:
    """The last line of the export of an empty chain anchors nothing."""
    return isinstance(value, dict) and "chain_head" in value and value["chain_head"] is None


def _anchor(value: Any, origin: str) -> Anchor | None:
    if isinstance(value, dict) and "chain_head" in value:  # the last line of an export
        value = value["chain_head"]
    if not isinstance(value, dict):
        return None
    seq, digest = value.get("seq"), value.get("hash")
    if type(seq) is not int or seq < 1 or not isinstance(digest, str):
        return None
    if not _HEX64.fullmatch(digest):
        return None
    return Anchor(seq=seq, hash=digest, origin=origin)


def parse_anchor_argument(text: str) -> list[Anchor]:
    """`--anchor`: a 64-hex head hash, `SEQ:HASH`, or a file of anchors / an export."""
    given = text.strip().lower()
    if _HEX64.fullmatch(given):
        return [Anchor(seq=None, hash=given, origin=f"--anchor {given[:12]}...")]
    seq, sep, digest = given.partition(":")
    if sep and seq.isdigit() and int(seq) > 0 and _HEX64.fullmatch(digest):
        return [Anchor(seq=int(seq), hash=digest, origin=f"--anchor {seq}:{digest[:12]}...")]
    path = Path(text)
    if not path.exists():
        raise ConfigError(
            f"--anchor: {text!r} is neither a file nor a chain head hash (64 hex, or SEQ:HASH)"
        )
    return read_anchors(path)


def stored_anchors(path: Path | None) -> list[Anchor]:
    """The anchors of `audit.anchor_file` (none yet when the file does not exist)."""
    if path is None or not path.exists():
        return []
    return read_anchors(path)


def newest(anchors: list[Anchor]) -> Anchor | None:
    """The anchor of the longest chain (several workers may write to one file)."""
    numbered = [a for a in anchors if a.seq is not None]
    return max(numbered, key=lambda a: a.seq or 0) if numbered else None


def write_anchor(path: Path, head: AuditRow, *, keyed: bool, by: str) -> None:
    """Append one anchor line and make it durable before returning."""
    line = json.dumps(
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seq": head.seq,
            "links": head.seq,
            "hash": head.hash,
            "keyed": keyed,
            "by": by,
        },
        sort_keys=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)

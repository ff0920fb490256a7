"""The sample pack's manifest and its signature: `MANIFEST.sha256` lists every file's SHA-256
(`sha256sum -c MANIFEST.sha256` checks it), `MANIFEST.sig` is the HMAC-SHA256 of the manifest
under the key configured as `[reports] pack_key`. `verify_pack` checks both: a file edited,
added or removed, or a different key, fails with the first problem named.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from connector.core.errors import ConnectorError

MANIFEST = "MANIFEST.sha256"
SIGNATURE = "MANIFEST.sig"
ALGORITHM = "hmac-sha256"


class PackInvalid(ConnectorError):
    """A sample pack does not verify: a file or the signature does not match."""


def manifest_text(out: Path) -> str:
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out).as_posix()
        if name in (MANIFEST, SIGNATURE):
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name}")
    return "\n".join(lines) + "\n"


def signature(manifest: str, key: str) -> str:
    mac = hmac.new(key.encode(), manifest.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} {mac}\n"


def sign_pack(out: Path, key: str) -> None:
    """Write the manifest of every file in `out`, and its signature."""
    text = manifest_text(out)
    (out / MANIFEST).write_text(text, encoding="utf-8")
    (out / SIGNATURE).write_text(signature(text, key), encoding="utf-8")


def verify_pack(out: Path, key: str) -> int:
    """The number of files checked; raises `PackInvalid` naming the first problem."""
    manifest, sig = out / MANIFEST, out / SIGNATURE
    for path in (manifest, sig):
        if not path.is_file():
            raise PackInvalid(f"{out}: no {path.name}: not a signed sample pack")
    text = manifest.read_text(encoding="utf-8")
    if not hmac.compare_digest(sig.read_text(encoding="utf-8"), signature(text, key)):
        raise PackInvalid(
            f"{sig}: the signature does not match (another key, or an edited manifest)"
        )
    listed: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep:
            raise PackInvalid(f"{manifest}:{n}: not '<sha256>  <file>'")
        listed[name] = digest
    present = manifest_text(out)
    for line in present.splitlines():
        digest, _, name = line.partition("  ")
        if name not in listed:
            raise PackInvalid(f"{out / name}: not in the manifest (added after signing)")
        if listed.pop(name) != digest:
            raise PackInvalid(f"{out / name}: its SHA-256 does not match the manifest (edited)")
    if listed:
        raise PackInvalid(f"{out / next(iter(listed))}: in the manifest but missing")
    return len(present.splitlines())

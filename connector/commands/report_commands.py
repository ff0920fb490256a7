"""The CLI's compliance commands: `report`, `report sample`, `audit verify`, `audit export`.

All of them read the store only. Errors propagate to cli.main, which turns them into one line
and an exit code.
"""

from __future__ import annotations

import json
import sys
from contextlib import closing
from datetime import datetime, tzinfo
from pathlib import Path

from connector.commands.worker_commands import open_store, parse_date, write_or_print
from connector.core.errors import ConfigError, ConnectorError
from connector.reports.summary import day_span
from connector.settings import load_settings


class BrokenChain(ConnectorError):
    """The audit chain does not verify: someone changed or removed a link."""


def period(since: str, until: str | None, zone: tzinfo) -> tuple[datetime, datetime]:
    """[since 00:00, until 24:00) in the policy's time zone; until defaults to today."""
    first = parse_date(since, "--since")
    last = parse_date(until, "--until") if until else datetime.now(zone).date()
    span = day_span(first, last, zone)
    if span is None:
        raise ConfigError(f"--until: {until} is before --since {since}")
    return span


def run_report(
    *,
    config: Path | None,
    since: str,
    until: str | None,
    sources: list[str],
    types: list[str],
    fmt: str,
    out: Path | None,
) -> None:
    from connector.reports.build import build_report
    from connector.reports.bulk import collector_paused
    from connector.reports.render import FORMATS, render

    formats = (*FORMATS, "pdf")
    if fmt not in formats:
        raise ConfigError(f"--format: {fmt!r} is not one of {', '.join(formats)}")
    if fmt == "pdf" and out is None:
        raise ConfigError("--format pdf: name the file to write with --out")
    settings = load_settings(config)
    unknown = [s for s in sources if s not in settings.sources]
    if unknown:
        raise ConfigError(f"--source: no source named {unknown[0]!r}")
    start, end = period(since, until, settings.policy.zone())
    # The collector stays paused from the build to the finished text, and the rows are freed
    # (by reference counting) before it runs again: re-enabled between build and render, its
    # next collection would walk every one of 100,000 rows for nothing.
    with collector_paused():
        with closing(open_store(settings, appends=False)) as store:
            rows, summary = build_report(
                settings, store, since=start, until=end, sources=sources, types=types
            )
        if fmt == "pdf" and out is not None:
            from connector.reports.pdf import to_pdf

            data = to_pdf(rows, summary)
            del rows, summary
            write_bytes(data, out)
            return
        text = render(fmt, rows, summary)
        del rows, summary
    write_or_print(text, out)


def write_bytes(data: bytes, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror}") from None
    sys.stdout.write(f"wrote {out}\n")


def run_sample(
    *,
    config: Path | None,
    size: int,
    seed: str,
    since: str,
    until: str | None,
    out: Path,
    all_exceptions: bool = False,
) -> None:
    from connector.reports.sample import write_sample

    settings = load_settings(config)
    if settings.reports.pack_key is None:
        raise ConfigError("reports.pack_key: set a key (16+ characters) to sign sample packs")
    start, end = period(since, until, settings.policy.zone())
    with closing(open_store(settings, appends=False)) as store:
        chosen = write_sample(
            settings,
            store,
            size=size,
            seed=seed,
            since=start,
            until=end,
            out=out,
            all_exceptions=all_exceptions,
        )
    sys.stdout.write(f"wrote {len(chosen)} change(s) with their evidence to {out}\n")


def run_verify_pack(*, config: Path | None, pack: Path) -> None:
    from connector.reports.pack import verify_pack

    settings = load_settings(config)
    key = settings.reports.pack_key
    if key is None:
        raise ConfigError("reports.pack_key: the key the pack was signed with is not configured")
    checked = verify_pack(pack, key.get_secret_value())
    sys.stdout.write(f"sample pack intact: {checked} file(s) match the signed manifest\n")


def run_audit_verify(*, config: Path | None, anchors: list[str] | None = None) -> None:
    """Walk the chain with the configured key; compare it with the stored anchors and the
    `--anchor` ones. Broken, truncated, deleted or rehashed: one line, exit 1."""
    from connector.store.anchors import parse_anchor_argument, stored_anchors

    settings = load_settings(config)
    given = [anchor for text in anchors or [] for anchor in parse_anchor_argument(text)]
    anchor_file = settings.audit.anchor_file
    every = stored_anchors(anchor_file) + given
    with closing(open_store(settings, appends=False)) as store:
        verdict = store.audit_verdict(every)
    keyed = settings.audit.hmac_key is not None
    problems = verdict.problems()
    if verdict.broken is not None:
        # (A keyed chain checked without audit.hmac_key breaks at its first keyed link.)
        others = "".join(f"; {p}" for p in problems[1:])
        raise BrokenChain(
            f"audit chain broken at link {verdict.broken}: it or the one before was altered{others}"
        )
    if problems:
        raise BrokenChain(f"audit chain broken: {'; '.join(problems)}")
    notes: list[str] = []
    if not keyed:
        notes.append(
            "note: audit.hmac_key is not set: links are plain SHA-256, which anyone who can "
            "write to the database can recompute after editing a row"
        )
    if anchor_file is None and not given:
        notes.append(
            "note: no anchors (audit.anchor_file is not set, no --anchor): deleting the "
            "newest links cannot be detected"
        )
    if verdict.head is None:
        sys.stdout.write("audit chain empty\n")
    else:
        sys.stdout.write(
            f"audit chain intact: {verdict.links} links ({verdict.keyed} keyed), "
            f"head {verdict.head}; {verdict.anchors} anchors agree\n"
        )
    for note in notes:
        sys.stdout.write(note + "\n")


def run_audit_export(*, config: Path | None, out: Path | None) -> None:
    """JSON Lines, one link per line, then the chain head, to archive elsewhere."""
    settings = load_settings(config)
    lines: list[str] = []
    with closing(open_store(settings, appends=False)) as store:
        count = 0
        for row in store.audit_rows():
            count += 1
            lines.append(
                json.dumps(
                    {
                        "seq": row.seq,
                        "at": row.at.isoformat(),
                        "source": row.source,
                        "ticket_key": row.ticket_key,
                        "event": row.event,
                        "actor": row.actor,
                        "detail": row.detail,
                        "prev_hash": row.prev_hash,
                        "hash": row.hash,
                    },
                    sort_keys=True,
                    ensure_ascii=False,
                )
            )
        head = store.audit_head()
    lines.append(
        json.dumps(
            {"chain_head": {"seq": head.seq, "hash": head.hash} if head else None, "links": count}
        )
    )
    write_or_print("\n".join(lines) + "\n", out)
    if head is not None and settings.audit.anchor_file is not None:
        from connector.store.anchors import write_anchor

        keyed = settings.audit.hmac_key is not None
        write_anchor(settings.audit.anchor_file, head, keyed=keyed, by="audit export")

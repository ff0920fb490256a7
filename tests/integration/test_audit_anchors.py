"""Audit integrity against someone with write access to the database, on SQLite and PostgreSQL:
links keyed with an HMAC key, anchors of the chain head kept outside the database, and what
`audit verify` and the worker say after the newest links are deleted, all of them are, or a
link is edited and the chain after it rehashed with plain SHA-256."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from store_fixtures import (  # noqa: F401 (fixtures)
    fixture_open_store,
    fixture_raw_engine,
    fixture_store,
    fixture_store_url,
)

from connector.commands.cli import main
from connector.store import Store
from connector.store.anchors import read_anchors, write_anchor
from connector.store.audit import Anchor, AuditKeying, AuditTruncated, canonical_json, link_hash

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
KEY = b"audit-key-for-tests-0123456789"


def append(store: Store, n: int) -> None:
    store.append_audit(
        source="acme-jira",
        ticket_key=f"CHG-{n}",
        event="comment-posted",
        actor="worker-1",
        detail={"n": n, "text": "ünïcode"},
    )


def links(store: Store, n: int, *, key: bytes | None = KEY) -> None:
    store.use_audit_keying(AuditKeying(key=key))
    for i in range(n):
        append(store, i)


def head_anchor(store: Store, origin: str = "anchors.jsonl line 1") -> Anchor:
    head = store.audit_head()
    assert head is not None
    return Anchor(seq=head.seq, hash=head.hash, origin=origin)


def delete(raw_engine: Engine, where: str) -> int:
    with raw_engine.begin() as conn:
        return int(conn.execute(text(f"DELETE FROM audit {where}")).rowcount)


def edit_and_rehash(
    store: Store, raw_engine: Engine, *, seq: int, start: int | None = None
) -> None:
    """Change link `seq`'s detail and recompute every hash from `start` (default: `seq`) on with
    plain SHA-256, as someone without the key would."""
    rows = list(store.audit_rows())
    first = seq if start is None else start
    prev = rows[first - 2].hash if first > 1 else "0" * 64
    with raw_engine.begin() as conn:
        for row in rows[first - 1 :]:
            detail = {**row.detail, "n": 999} if row.seq == seq else row.detail
            digest = link_hash(
                prev,
                seq=row.seq,
                at=row.at,
                source=row.source,
                ticket_key=row.ticket_key,
                event=row.event,
                actor=row.actor,
                detail=detail,
            )
            conn.execute(
                text("UPDATE audit SET detail = :d, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"d": canonical_json(detail), "p": prev, "h": digest, "s": row.seq},
            )
            prev = digest


def test_keyed_links_verify_only_with_the_key(open_store: Callable[[], Store]) -> None:
    store = open_store()
    links(store, 4)
    assert store.audit_verdict().keyed == 4
    assert store.verify_audit() is None
    keyless = open_store()
    assert keyless.verify_audit() == 1  # a keyed link is not a plain SHA-256 link


def test_a_plain_store_keeps_verifying_once_a_key_is_set(store: Store) -> None:
    links(store, 3, key=None)
    links(store, 2, key=KEY)
    verdict = store.audit_verdict()
    assert (verdict.links, verdict.keyed, verdict.broken) == (5, 2, None)


def test_deleting_the_newest_links_is_caught_and_appending_refused(
    store: Store, raw_engine: Engine, open_store: Callable[[], Store]
) -> None:
    links(store, 6)
    anchor = head_anchor(store)
    assert store.audit_verdict([anchor]).problems() == []
    worker = open_store()
    worker.use_audit_keying(AuditKeying(key=KEY, floor=anchor))  # the worker started before
    assert delete(raw_engine, "WHERE seq > 4") == 2
    verdict = store.audit_verdict([anchor])
    assert verdict.broken is None  # the rows left are a perfectly good chain...
    assert verdict.problems() == [
        "the chain ends at link 4 but anchors.jsonl line 1 anchors 6 links: links 5..6 were deleted"
    ]
    with pytest.raises(AuditTruncated, match=r"has 4 links but anchors\.jsonl line 1 anchors 6"):
        append(worker, 99)  # a running worker refuses to continue the shorter chain
    with pytest.raises(AuditTruncated, match="refusing to append"):
        open_store().use_audit_keying(AuditKeying(key=KEY, floor=anchor))
    assert store.audit_verdict().links == 4  # nothing was appended


def test_deleting_every_link_is_caught(store: Store, raw_engine: Engine) -> None:
    links(store, 3)
    anchor = head_anchor(store)
    delete(raw_engine, "")
    assert store.audit_verdict([anchor]).problems() == [
        "the chain is empty but anchors.jsonl line 1 anchors 3 links: every link was deleted"
    ]
    with pytest.raises(AuditTruncated, match="has 0 links"):
        store.use_audit_keying(AuditKeying(key=KEY, floor=anchor))


def test_a_plain_rehash_of_a_keyed_chain_breaks_at_the_edited_link(
    store: Store, raw_engine: Engine
) -> None:
    links(store, 6)
    edit_and_rehash(store, raw_engine, seq=3)
    assert store.verify_audit() == 3


def test_rehashing_a_plain_chain_is_pinned_by_the_anchors(store: Store, raw_engine: Engine) -> None:
    links(store, 6, key=None)
    every = [Anchor(r.seq, r.hash, f"export line {r.seq}") for r in store.audit_rows()]
    periodic = [every[1], every[4]]  # links 2 and 5
    head = every[-1]
    edit_and_rehash(store, raw_engine, seq=3)
    assert store.verify_audit() is None  # the hashes alone cannot tell
    assert store.audit_verdict(every).problems() == [
        "link 3 differs from the anchor in export line 3: link 3 was altered and the chain "
        "after it rehashed"
    ]
    assert store.audit_verdict(periodic).problems() == [
        "link 5 differs from the anchor in export line 5: one of links 3..5 was altered and "
        "the chain after it rehashed"
    ]
    bare = Anchor(seq=None, hash=head.hash, origin="--anchor")
    assert store.audit_verdict([bare]).unfound == [bare]


def test_rewriting_a_keyed_chain_from_the_start_is_caught_by_anchors(
    store: Store, raw_engine: Engine
) -> None:
    links(store, 4)
    anchor = head_anchor(store)
    edit_and_rehash(store, raw_engine, seq=2, start=1)  # every link plain: no keyed link left
    verdict = store.audit_verdict([anchor])
    assert (verdict.broken, verdict.keyed) == (None, 0)
    assert verdict.problems()[0].startswith("link 4 differs from the anchor")


# -- the commands -------------------------------------------------------------------------------


def config_for(tmp_path: Path, store_url: str, *, source: bool = False) -> Path:
    config = tmp_path / "c.toml"
    text_ = (
        f'data_dir = "{tmp_path / "data"}"\nstore_url = "{store_url}"\n'
        f'[audit]\nhmac_key = "{KEY.decode()}"\nanchor_file = "{tmp_path / "anchors.jsonl"}"\n'
    )
    if source:
        text_ += (
            '[sources.acme-jira]\nkind = "jira"\nurl = "https://127.0.0.1:9/jira"\n'
            'username = "bot"\ntoken = "api-token-1"\n'
            f'mapping = "{MAPPINGS / "jira-default.toml"}"\n'
        )
    config.write_text(text_)
    return config


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(args))
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(ended.value.code or 0), out.out, out.err


def test_audit_commands_catch_truncation_and_the_worker_refuses(
    store: Store,
    store_url: str,
    raw_engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    links(store, 5)
    config = config_for(tmp_path, store_url, source=True)
    export = tmp_path / "export.jsonl"
    code, out, err = cli(capsys, "audit", "export", "--out", str(export), "--config", str(config))
    assert code == 0, err
    anchors = read_anchors(tmp_path / "anchors.jsonl")  # the export anchored the head
    head = store.audit_head()
    assert head is not None
    assert [(a.seq, a.hash) for a in anchors] == [(5, head.hash)]
    assert json.loads(export.read_text().splitlines()[-1])["chain_head"]["seq"] == 5

    code, out, err = cli(capsys, "audit", "verify", "--config", str(config))
    assert code == 0, err
    assert out == f"audit chain intact: 5 links (5 keyed), head {head.hash}; 1 anchors agree\n"

    delete(raw_engine, "WHERE seq > 3")
    code, out, err = cli(capsys, "audit", "verify", "--config", str(config))
    assert (code, out) == (1, "")
    assert err == (
        "error: audit chain broken: the chain ends at link 3 but anchors.jsonl line 1 anchors 5 "
        "links: links 4..5 were deleted\n"
    )
    code, out, err = cli(capsys, "audit", "verify", "--anchor", head.hash, "--config", str(config))
    assert code == 1 and f"no link has the hash {head.hash}" in err
    (tmp_path / "anchors.jsonl").unlink()  # the export alone still tells
    code, out, err = cli(capsys, "audit", "verify", "--anchor", str(export), "-c", str(config))
    assert code == 1 and "export.jsonl line 5 anchors 5 links: links 4..5 were deleted" in err

    write_anchor(tmp_path / "anchors.jsonl", head, keyed=True, by="test")
    code, out, err = cli(capsys, "sync", "--once", "--config", str(config))
    assert code == 1
    assert err == (
        "error: audit chain has 3 links but anchors.jsonl line 1 anchors 5: links were deleted; "
        "refusing to append to it (run `change-connector audit verify`)\n"
    )


def test_verify_without_key_or_anchors_says_what_it_cannot_see(
    store: Store, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links(store, 2, key=None)
    config = tmp_path / "c.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nstore_url = "{store_url}"\n')
    code, out, _err = cli(capsys, "audit", "verify", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("audit chain intact: 2 links (0 keyed)")
    assert lines[1].startswith("note: audit.hmac_key is not set")
    assert lines[2].startswith("note: no anchors")


def test_the_worker_anchors_the_head_when_it_moved(
    store: Store, raw_engine: Engine, tmp_path: Path
) -> None:
    from connector.serve.worker import Worker
    from connector.settings import AuditSettings, Settings

    anchor_file = tmp_path / "anchors" / "audit.jsonl"
    settings = Settings(audit=AuditSettings(anchor_file=anchor_file))
    worker = Worker(settings, store, name="w1")
    worker.anchor()
    assert not anchor_file.exists()  # an empty chain has no head to anchor
    links(store, 2)
    worker.anchor()
    worker.anchor()  # the head did not move: no second line
    links(store, 1)
    worker.final_anchor()
    lines = [json.loads(line) for line in anchor_file.read_text().splitlines()]
    head = store.audit_head()
    assert head is not None
    assert [(x["seq"], x["links"], x["by"]) for x in lines] == [(2, 2, "w1"), (3, 3, "w1")]
    assert lines[-1]["hash"] == head.hash
    assert [a.seq for a in read_anchors(anchor_file)] == [2, 3]
    delete(raw_engine, "WHERE seq = 3")  # behind the running worker's back
    with pytest.raises(AuditTruncated, match=r"has 2 links but audit\.jsonl anchors 3"):
        append(store, 4)


def anchored_config(
    store: Store,
    *,
    count: int,
    store_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    """`count` links, anchored by an `audit export`; the config of a worker on that store."""
    links(store, count)
    config = config_for(tmp_path, store_url, source=True)
    code, _out, err = cli(
        capsys, "audit", "export", "--out", str(tmp_path / "e.jsonl"), "-c", str(config)
    )
    assert code == 0, err
    return config


def test_audit_commands_catch_a_deleted_trail_and_the_worker_refuses(
    store: Store,
    store_url: str,
    raw_engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = anchored_config(store, count=4, store_url=store_url, tmp_path=tmp_path, capsys=capsys)
    assert delete(raw_engine, "") == 4
    code, out, err = cli(capsys, "audit", "verify", "--config", str(config))
    assert (code, out) == (1, "")
    assert err == (
        "error: audit chain broken: the chain is empty but anchors.jsonl line 1 anchors 4 "
        "links: every link was deleted\n"
    )
    code, out, err = cli(capsys, "sync", "--once", "--config", str(config))
    assert code == 1
    assert err == (
        "error: audit chain has 0 links but anchors.jsonl line 1 anchors 4: links were deleted; "
        "refusing to append to it (run `change-connector audit verify`)\n"
    )
    assert store.audit_verdict().links == 0  # nothing was appended


def test_audit_commands_catch_an_edited_and_rehashed_chain_and_the_worker_refuses(
    store: Store,
    store_url: str,
    raw_engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = anchored_config(store, count=5, store_url=store_url, tmp_path=tmp_path, capsys=capsys)
    edit_and_rehash(store, raw_engine, seq=3)  # plain SHA-256: the key is not in the database
    code, out, err = cli(capsys, "audit", "verify", "--config", str(config))
    assert (code, out) == (1, "")
    assert err == "error: audit chain broken at link 3: it or the one before was altered\n"
    code, out, err = cli(capsys, "sync", "--once", "--config", str(config))
    assert code == 1
    assert err == (
        "error: audit link 5 differs from the anchor in anchors.jsonl line 1: the chain was "
        "altered; refusing to append to it (run `change-connector audit verify`)\n"
    )
    head = store.audit_head()
    assert head is not None and head.seq == 5  # nothing was appended


def test_a_running_worker_refuses_to_extend_a_rehashed_head(
    store: Store, raw_engine: Engine, open_store: Callable[[], Store]
) -> None:
    """The head the worker anchored is edited and rehashed behind its back: its next append
    would chain onto the forgery, so it refuses instead."""
    links(store, 4)
    anchor = head_anchor(store)
    worker = open_store()
    worker.use_audit_keying(AuditKeying(key=KEY, floor=anchor))
    edit_and_rehash(store, raw_engine, seq=4)
    with pytest.raises(AuditTruncated, match="link 4 differs from the anchor"):
        append(worker, 99)
    head = store.audit_head()
    assert head is not None and head.seq == 4  # nothing was appended

"""The server's verdict decides who may sign by replaying the household's key entries from the
ledger (authority-signed ``key.register``/``key.revoke``), so rewriting the derived key tables
(``ledger_keys``, ``ledger_key_revocations``) can neither fail a valid entry nor pass a forged one.
Each test restores what it changed: the app fixture verifies the whole ledger afterwards."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, text

from app.context import goc
from app.extensions import db
from app.models import Batch, Household, Role, Step, User
from app.services.households import reissue_key
from app.services.ledger_statements import household_signer, sign
from ledger import BundleReader, LogVerifier, NoteSigner
from storefront.cache import WorkerCache
from storefront.verification import BatchReport, SubjectChecks, trust_roots, verify_batch
from tests.ledger.test_tamper import bypass
from tests.storefront.test_pages import SPRAYING, ago, new_batch, step


def report(code: str, cache: WorkerCache[bytes, SubjectChecks] | None = None) -> BatchReport:
    db.session.expire_all()
    batch = db.session.scalar(select(Batch).where(Batch.code == code))
    steps = list(db.session.scalars(select(Step).where(Step.batch_id == batch.id)))
    return verify_batch(goc().ledger, trust_roots(goc().ledger), batch, steps, cache)


def household_of(code: str) -> Household:
    household: Household = db.session.scalar(select(Batch).where(Batch.code == code)).household
    return household


@contextmanager
def tampered(*statements: tuple[str, dict[str, Any]]) -> Iterator[None]:
    """Run raw SQL behind the ledger's back; put every ledger table back as it was after."""
    engine = goc().ledger.engine
    tables = ("ledger_entries", "ledger_keys", "ledger_key_revocations")
    with engine.connect() as conn:
        saved = {
            t: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {t}"))] for t in tables
        }
    with bypass(engine) as conn:
        for sql, params in statements:
            conn.execute(text(sql), params)
    try:
        yield
    finally:
        with bypass(engine) as conn:
            for table in tables:  # children first is not needed: no foreign keys between them
                conn.execute(text(f"DELETE FROM {table}"))
                if saved[table]:
                    columns = list(saved[table][0])
                    conn.execute(
                        text(
                            f"INSERT INTO {table} ({', '.join(columns)}) "
                            f"VALUES ({', '.join(':' + c for c in columns)})"
                        ),
                        saved[table],
                    )


def resign(seq: int, signer: NoteSigner) -> tuple[str, dict[str, Any]]:
    """SQL replacing entry ``seq``'s statement with the same one signed by ``signer``."""
    parsed = goc().ledger.entry(seq).statement.parse()
    forged = sign(
        signer,
        parsed.kind,
        parsed.subject,
        parsed.body,
        time=parsed.time,
        attachments=parsed.attachments,
    )
    return (
        "UPDATE ledger_entries SET statement = :d, signature = :s, key_id = :k WHERE seq = :q",
        {"d": forged.data, "s": forged.signature, "k": signer.key_id, "q": seq},
    )


@pytest.fixture
def batch(app: Any) -> Iterator[dict[str, Any]]:
    with app.app_context():
        made = new_batch()
        spraying = step(made, "spraying", {**SPRAYING, "occurred_at": ago(20)})
        harvest = step(made, "harvest", {"quantity": "50", "occurred_at": ago(3)})
        yield {"code": made.code, "seqs": (made.seq, spraying.seq, harvest.seq)}


def signed(result: BatchReport, seqs: tuple[int, ...]) -> list[bool]:
    return [result.verdict(seq).signed for seq in seqs]


def test_every_entry_is_signed_before_any_tampering(batch: dict[str, Any]) -> None:
    result = report(batch["code"])
    assert result.ok
    assert signed(result, batch["seqs"]) == [True, True, True]


def test_a_key_row_moved_to_another_owner_does_not_fail_valid_entries(
    batch: dict[str, Any],
) -> None:
    key_id = household_of(batch["code"]).active_key.key_id
    with tampered(
        (
            "UPDATE ledger_keys SET owner = 'household:SOMEONE', registered_seq = 999999 "
            "WHERE key_id = :k",
            {"k": key_id},
        )
    ):
        assert goc().ledger.key(key_id).owner == "household:SOMEONE"
        result = report(batch["code"])
    assert result.ok
    assert signed(result, batch["seqs"]) == [True, True, True]


def test_a_revocation_row_added_by_hand_does_not_fail_valid_entries(
    batch: dict[str, Any],
) -> None:
    key_id = household_of(batch["code"]).active_key.key_id
    with tampered(
        ("INSERT INTO ledger_key_revocations (key_id, revoked_seq) VALUES (:k, 0)", {"k": key_id})
    ):
        assert goc().ledger.key(key_id).revoked_seq == 0
        result = report(batch["code"])
    assert result.ok


def test_a_key_row_added_by_hand_signs_nothing(batch: dict[str, Any]) -> None:
    owner = household_of(batch["code"]).subject
    forger = NoteSigner.generate(owner)
    _, spraying, harvest = batch["seqs"]
    with tampered(
        (
            "INSERT INTO ledger_keys (key_id, owner, public_key, registered_seq) "
            "VALUES (:k, :o, :p, 0)",
            {"k": forger.key_id, "o": owner, "p": forger.public_key},
        ),
        resign(harvest, forger),
    ):
        assert goc().ledger.key(forger.key_id).owner == owner  # the tables vouch for it
        result = report(batch["code"])
    assert not result.ok
    assert not result.verdict(harvest).signed
    assert result.verdict(harvest).matches  # the same fields, only the signer is forged
    assert result.verdict(spraying).ok


def test_a_deleted_revocation_row_does_not_revive_a_revoked_key(batch: dict[str, Any]) -> None:
    household = household_of(batch["code"])
    old_signer = household_signer(goc(), household)
    admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
    reissue_key(db.session, goc(), actor=admin, household=household, reason="lost phone")
    created = db.session.scalar(select(Batch).where(Batch.code == batch["code"]))
    late = step(created, "note", {"note": "sau khi đổi khoá"})
    with tampered(
        ("DELETE FROM ledger_key_revocations WHERE key_id = :k", {"k": old_signer.key_id}),
        resign(late.seq, old_signer),
    ):
        assert goc().ledger.key(old_signer.key_id).revoked_seq is None
        result = report(batch["code"])
    assert not result.verdict(late.seq).signed
    # entries the old key signed before its revocation still verify
    assert signed(result, batch["seqs"]) == [True, True, True]
    assert report(batch["code"]).ok


def test_a_key_register_entry_without_a_valid_authority_signature_registers_nothing(
    batch: dict[str, Any],
) -> None:
    household = household_of(batch["code"])
    register_seq = household.active_key.registered_seq
    with tampered(resign(register_seq, NoteSigner.generate("goc.test/authority"))):
        result = report(batch["code"])
    assert signed(result, batch["seqs"]) == [False, False, False]
    assert all(result.verdict(seq).included for seq in batch["seqs"])


def test_checks_are_cached_until_a_row_they_read_changes(batch: dict[str, Any]) -> None:
    cache: WorkerCache[bytes, SubjectChecks] = WorkerCache(8)
    first = report(batch["code"], cache)
    again = report(batch["code"], cache)
    assert first.ok and again.ok
    assert len(cache) == 1  # the second page view reused the checks
    _, _, harvest = batch["seqs"]
    original = goc().ledger.entry(harvest).statement.data
    changed = original.replace(b'"quantity":"50"', b'"quantity":"60"')
    with tampered(
        ("UPDATE ledger_entries SET statement = :d WHERE seq = :q", {"d": changed, "q": harvest})
    ):
        result = report(batch["code"], cache)
    assert not result.verdict(harvest).signed and not result.verdict(harvest).chained
    assert len(cache) == 2
    assert report(batch["code"], cache).ok


class TestExport:
    def test_the_batch_bundle_verifies_offline_against_the_trust_roots(
        self, client: Any, batch: dict[str, Any]
    ) -> None:
        response = client.get(f"/b/{batch['code']}/export")
        assert response.status_code == 200
        assert response.mimetype == "application/jsonl"
        assert "public" in response.headers["Cache-Control"]
        reader = BundleReader(io.StringIO(response.get_data(as_text=True)))
        assert reader.header.subject == f"batch:{batch['code']}"
        [note, *entries] = list(reader.items())
        ledger = goc().ledger
        verifier = LogVerifier(
            log_key=ledger.log_signer.verifier, authority_keys=[goc().authority.verifier], workers=0
        )
        summary = verifier.verify_subject(reader.header.subject, note, entries)
        assert summary.entries == 3 and summary.checkpoint.size == ledger.size()
        kinds = [e.entry.statement.parse().kind for e in entries]
        assert kinds == ["key.register", "batch.create", "step.spraying", "step.harvest"]

    def test_is_cacheable_until_the_ledger_grows_and_unknown_batches_are_404(
        self, client: Any, batch: dict[str, Any]
    ) -> None:
        url = f"/b/{batch['code']}/export"
        etag = client.get(url).headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        created = db.session.scalar(select(Batch).where(Batch.code == batch["code"]))
        step(created, "note", {"note": "thêm"})
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 200
        assert client.get("/b/BNOSUCH/export").status_code == 404

    def test_the_page_embeds_the_trust_roots_and_links_the_bundle_and_script(
        self, client: Any, batch: dict[str, Any]
    ) -> None:
        html = client.get(f"/b/{batch['code']}").get_data(as_text=True)
        assert f'data-log-key="{goc().ledger.log_signer.verifier.vkey()}"' in html
        assert f'data-authority-keys="{goc().authority.verifier.vkey()}"' in html
        assert f'data-bundle="/b/{batch["code"]}/export"' in html
        assert 'id="device-check" class="banner" role="status" hidden' in html
        with client.get("/storefront/static/verify.js") as script:
            assert script.status_code == 200 and "javascript" in script.mimetype
            assert "script-src 'self'" in script.headers["Content-Security-Policy"]

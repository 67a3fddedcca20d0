"""Appending: the rules at the door, atomicity, checkpoints, reads and proofs (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ledger import (
    KEY_REGISTER,
    Checkpoint,
    InvalidStatementError,
    KeyNotValidError,
    SignedStatement,
    Statement,
    schema,
)
from ledger.encoding import b64encode
from ledger.merkle import verify_consistency, verify_inclusion
from tests.support import Fixture, seeded_signer


def count(log: Fixture, table: object) -> int:
    with log.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def unchanged(log: Fixture) -> tuple[int, int, int]:
    return (count(log, schema.entries), count(log, schema.checkpoints), count(log, schema.nodes))


class TestAppend:
    def test_entries_chain_and_each_append_is_sealed(self, log: Fixture) -> None:
        household, first = log.register("household:H1", 10)
        second = log.step(household, "batch:B1", quantity_kg=5)
        third = log.step(household, "batch:B1", quantity_kg=7)
        assert [first.seq, second.seq, third.seq] == [0, 1, 2]
        assert second.prev_hash == first.hash and third.prev_hash == second.hash
        assert second.subject_prev_hash == bytes(32)
        assert third.subject_prev_hash == second.hash
        checkpoint = log.ledger.latest_checkpoint()
        assert checkpoint is not None and checkpoint.size == 3
        parsed = Checkpoint.verify_note(checkpoint.note, log.log_key.verifier)
        assert parsed.root == log.ledger.root(3)
        assert [c.size for c in log.ledger.checkpoints()] == [1, 2, 3]

    def test_append_many_is_one_checkpoint(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        statements = [
            log.statement(household, "step.irrigation", "batch:B1", {"n": i}).sign(household)
            for i in range(5)
        ]
        entries = log.ledger.append_many(statements)
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
        assert [c.size for c in log.ledger.checkpoints()] == [1, 6]

    def test_reads(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        for i in range(3):
            log.step(household, f"batch:B{i % 2}", n=i)
        assert log.ledger.size() == 4
        assert [e.seq for e in log.ledger.subject_entries("batch:B0")] == [1, 3]
        assert log.ledger.entry(2) is not None and log.ledger.entry(9) is None
        assert [e.seq for e in log.ledger.entries(1, 2)] == [1, 2]
        assert log.ledger.subject_owner("batch:B1") == "household:H1"
        record = log.ledger.key(household.key_id)
        assert record is not None and record.owner == "household:H1" and record.registered_seq == 0

    def test_proofs_from_storage_verify(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        entries = [log.step(household, "batch:B1", n=i) for i in range(12)]
        size = log.ledger.size()
        root = log.ledger.root(size)
        for entry in entries:
            verify_inclusion(
                entry.seq, size, entry.leaf_hash, log.ledger.inclusion_proof(entry.seq, size), root
            )
        for old in range(1, size):
            old_root = log.ledger.checkpoint(old)
            assert old_root is not None
            verify_consistency(
                old, size, old_root.root, root, log.ledger.consistency_proof(old, size)
            )
        with pytest.raises(ValueError):
            log.ledger.inclusion_proof(0, size + 1)


class TestRulesAtTheDoor:
    def test_unknown_key(self, log: Fixture) -> None:
        stranger = seeded_signer("household:X", 50)
        with pytest.raises(KeyNotValidError) as info:
            log.step(stranger, "batch:B1")
        assert info.value.field == "key"
        assert unchanged(log) == (0, 0, 0)

    def test_bad_signature(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        signed = log.statement(household, "step.harvest", "batch:B1").sign(household)
        with pytest.raises(InvalidStatementError) as info:
            log.ledger.append(SignedStatement(signed.data, bytes(64)))
        assert info.value.field == "signature"
        assert unchanged(log) == (1, 1, 1)

    def test_revoked_key(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        log.step(household, "batch:B1")
        log.revoke("household:H1", household)
        before = unchanged(log)
        with pytest.raises(KeyNotValidError, match="revoked at seq 2"):
            log.step(household, "batch:B1")
        assert unchanged(log) == before
        replacement, _ = log.register("household:H1", 11)
        assert log.step(replacement, "batch:B1").seq == 4
        log.verifier().verify_log(log.ledger.iter_log())

    def test_foreign_subject(self, log: Fixture) -> None:
        first, _ = log.register("household:H1", 10)
        second, _ = log.register("household:H2", 20)
        log.step(first, "batch:B1")
        before = unchanged(log)
        with pytest.raises(KeyNotValidError) as info:
            log.step(second, "batch:B1")
        assert info.value.field == "subject"
        with pytest.raises(KeyNotValidError):
            log.step(second, "household:H1", "profile.update")
        assert unchanged(log) == before

    def test_only_an_authority_registers_keys(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        body = {"public_key": b64encode(seeded_signer("household:H1", 12).public_key)}
        signed = log.statement(household, KEY_REGISTER, "household:H1", body).sign(household)
        with pytest.raises(KeyNotValidError, match="authority"):
            log.ledger.append(signed)

    def test_register_checks_its_body(self, log: Fixture) -> None:
        auth = log.authority
        for body, field in [({}, "body.public_key"), ({"public_key": "abc"}, "body.public_key")]:
            signed = log.statement(auth, KEY_REGISTER, "household:H1", body).sign(auth)
            with pytest.raises(InvalidStatementError) as info:
                log.ledger.append(signed)
            assert info.value.field == field
        log.register("household:H1", 10)
        with pytest.raises(InvalidStatementError, match="already registered"):
            log.register("household:H9", 10)

    def test_future_time(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        late = Statement(
            kind="step.harvest",
            subject="batch:B1",
            key=household.key_id,
            time=datetime.now(UTC) + timedelta(hours=1),
        ).sign(household)
        with pytest.raises(InvalidStatementError) as info:
            log.ledger.append(late)
        assert info.value.field == "time"

    def test_a_bad_statement_rolls_back_the_whole_batch(self, log: Fixture) -> None:
        household, _ = log.register("household:H1", 10)
        good = log.statement(household, "step.care", "batch:B1").sign(household)
        stranger = seeded_signer("household:X", 50)
        bad = log.statement(stranger, "step.care", "batch:B1").sign(stranger)
        before = unchanged(log)
        with pytest.raises(KeyNotValidError):
            log.ledger.append_many([good, bad])
        assert unchanged(log) == before

"""Tampering with a stored log behind the ledger's back, and the verifier catching it.

Each test first bypasses the append-only triggers as the database owner (PostgreSQL: replica
mode for one transaction; SQLite: the triggers dropped and re-created in one transaction), edits
the tables with raw SQL, then checks that verification fails with the right error class naming
the first bad entry. The forgers here are as thorough as the keys they hold allow: when they
can, they recompute hash chains and Merkle nodes so that only the check that truly needs a
secret (a statement signature, the log key, the key rules) is left to catch them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, exc, text

from ledger import (
    Checkpoint,
    CheckpointError,
    Entry,
    KeyNotValidError,
    KeyValidityError,
    LogSummary,
    NoteSigner,
    SignatureError,
    SignedNote,
    SignedStatement,
    VerificationError,
)
from ledger import verify as verify_module
from ledger.encoding import canonical_json
from ledger.entry import ZERO_HASH
from ledger.errors import ChainError
from ledger.merkle import CompactRange
from ledger.schema import (
    LEDGER_TABLES,
    WRITE_TRANSACTION,
    append_only_ddl,
    drop_append_only_ddl,
    metadata,
)
from ledger.store import LogReader, entry_from_row
from tests.conftest import BACKENDS
from tests.support import Fixture, seeded_signer

H1, H2 = "household:H001", "household:H002"
LOT1, LOT2 = "lot:H001-1", "lot:H002-1"
SIZE = 12
NO_SUCH_ENTRY = hashlib.sha256(b"no such entry").digest()


@dataclass(frozen=True)
class Built:
    """The signers of a log made by :func:`build_log`."""

    h1: NoteSigner
    h2: NoteSigner  # revoked at seq 10
    h2_new: NoteSigner  # registered at seq 11


def build_log(log: Fixture) -> Built:
    """Two households, 12 entries, one checkpoint per entry.

    seq 0/1 register H001/H002; 2..9 alternate steps on lot:H001-1 (even seqs, weight 100..103)
    and lot:H002-1 (odd seqs, weight 200..203); 10 revokes H002's key; 11 registers a new one.
    """
    h1, _ = log.register(H1, 11)
    h2, _ = log.register(H2, 12)
    for i in range(4):
        log.step(h1, LOT1, weight_kg=100 + i)
        log.step(h2, LOT2, weight_kg=200 + i)
    log.revoke(H2, h2)
    h2_new, _ = log.register(H2, 13)
    assert log.ledger.size() == SIZE
    return Built(h1, h2, h2_new)


# -- raw access ------------------------------------------------------------------------------


@contextmanager
def bypass(engine: Engine) -> Iterator[Connection]:
    """One transaction, as the owner, in which the append-only triggers do not fire."""
    with engine.execution_options(**WRITE_TRANSACTION).begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield conn
        else:
            for ddl in drop_append_only_ddl(dialect):
                conn.exec_driver_sql(ddl)
            yield conn
            for ddl in append_only_ddl(dialect):
                conn.exec_driver_sql(ddl)


def stored_entries(conn: Connection) -> list[Entry]:
    rows = conn.execute(
        text(
            "SELECT seq, received_micros, prev_hash, subject_prev_hash, statement, signature, "
            "entry_hash FROM ledger_entries ORDER BY seq"
        )
    )
    return [entry_from_row(tuple(row)) for row in rows]


def insert_entries(conn: Connection, entries: Sequence[Entry]) -> None:
    for entry in entries:
        parsed = entry.statement.parse()
        conn.execute(
            text(
                "INSERT INTO ledger_entries (seq, received_micros, prev_hash, subject_prev_hash, "
                "subject, kind, key_id, statement, signature, entry_hash) VALUES (:seq, :rec, "
                ":prev, :sprev, :subject, :kind, :key, :data, :sig, :hash)"
            ),
            {
                "seq": entry.seq,
                "rec": entry.received_micros,
                "prev": entry.prev_hash,
                "sprev": entry.subject_prev_hash,
                "subject": parsed.subject,
                "kind": parsed.kind,
                "key": parsed.key,
                "data": entry.statement.data,
                "sig": entry.statement.signature,
                "hash": entry.hash,
            },
        )


def rechain(
    statements: Sequence[tuple[int, SignedStatement]],
    *,
    numbers: Sequence[int] | None = None,
    unlinked: int | None = None,
    unchained: int | None = None,
) -> tuple[list[Entry], CompactRange]:
    """Entries numbered 0.. (or ``numbers``) with every hash chain recomputed; the Merkle tree
    over them. Entry ``unlinked`` claims to be the first of its subject, entry ``unchained``
    follows no entry of the log."""
    prev, heads, tree, entries = ZERO_HASH, {}, CompactRange(), []
    seqs = range(len(statements)) if numbers is None else numbers
    for seq, (received, statement) in zip(seqs, statements, strict=True):
        subject = statement.parse().subject
        entry = Entry.build(
            seq=seq,
            received_micros=received,
            prev_hash=NO_SUCH_ENTRY if seq == unchained else prev,
            subject_prev_hash=ZERO_HASH if seq == unlinked else heads.get(subject, ZERO_HASH),
            statement=statement,
        )
        prev = heads[subject] = entry.hash
        tree.append(entry.leaf_hash)
        entries.append(entry)
    return entries, tree


def rewrite_log(
    conn: Connection,
    statements: Sequence[tuple[int, SignedStatement]],
    **forgery: Any,
) -> CompactRange:
    """Replace every entry and Merkle node with a consistently re-chained log of ``statements``
    (see :func:`rechain` for the ``forgery`` options).

    What a forger holding no key can do: every hash and node is right, the checkpoints are not.
    """
    entries, _ = rechain(statements, **forgery)
    conn.execute(text("DELETE FROM ledger_entries"))
    conn.execute(text("DELETE FROM ledger_nodes"))
    insert_entries(conn, entries)
    tree = CompactRange()
    for entry in entries:
        for (level, idx), digest in tree.append(entry.leaf_hash):
            conn.execute(
                text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                {"l": level, "i": idx, "h": digest},
            )
    return tree


def statements_of(entries: Sequence[Entry]) -> list[tuple[int, SignedStatement]]:
    return [(e.received_micros, e.statement) for e in entries]


def store_checkpoint(conn: Connection, signer: NoteSigner, size: int, root: bytes) -> str:
    """Insert (or replace) the checkpoint at ``size`` with a note ``signer`` signs."""
    note = Checkpoint(signer.name, size, root).sign(signer)
    conn.execute(text("DELETE FROM ledger_checkpoints WHERE size = :s"), {"s": size})
    conn.execute(
        text(
            "INSERT INTO ledger_checkpoints (size, root, note, created_micros) "
            "VALUES (:s, :r, :n, 0)"
        ),
        {"s": size, "r": root, "n": note},
    )
    return note


def change_body(log: Fixture, seq: int, old: bytes, new: bytes, *, rechained: bool) -> None:
    """Change bytes of entry ``seq``'s statement, keeping it a valid statement."""
    with bypass(log.engine) as conn:
        entries = stored_entries(conn)
        data = entries[seq].statement.data
        assert data.count(old) == 1
        changed = data.replace(old, new)
        assert len(changed) == len(data)
        assert sum(a != b for a, b in zip(data, changed, strict=True)) == 1
        json.loads(changed)  # still JSON; still a well-formed statement for the log's rules
        if rechained:
            items = statements_of(entries)
            items[seq] = (items[seq][0], SignedStatement(changed, entries[seq].statement.signature))
            rewrite_log(conn, items)
        else:
            conn.execute(
                text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
                {"d": changed, "s": seq},
            )


def tamper_flip_digit(log: Fixture, *, rechained: bool = True) -> int:
    """Flip one digit of seq 6's body (H001's weight 102 becomes 103); return the bad seq."""
    change_body(log, 6, b'"weight_kg":102', b'"weight_kg":103', rechained=rechained)
    return 6


# -- verification ----------------------------------------------------------------------------


Outcome = LogSummary | tuple[type, int | None, int | None, str]


def outcome(run: Callable[[], LogSummary]) -> Outcome:
    try:
        return run()
    except VerificationError as failure:
        return type(failure), failure.seq, failure.checkpoint_size, failure.reason


def verify(log: Fixture, workers: int = 0) -> None:
    """Verify the stored log. ``verify_database``, inline and with workers that read the
    entries themselves, must reach the very same verdict (same error, seq and reason) as
    ``verify_log``, also when the log is read in chunks of three entries (notes, gaps and
    swaps across chunk edges; the aligned chunks are summarized, the others not) and of two and
    four (every chunk aligned: each one without a ``key.*`` statement or a failed check of its
    own is summarized)."""
    expected = outcome(lambda: log.verifier(workers).verify_log(log.ledger.iter_log()))
    url = log.engine.url.render_as_string(hide_password=False)
    for chunk in (verify_module.CHUNK, 3, 2, 4):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(verify_module, "CHUNK", chunk)
            for verifier in (log.verifier(0), log.verifier(2)):
                assert outcome(partial(verifier.verify_database, url)) == expected, chunk
    log.verifier(workers).verify_log(log.ledger.iter_log())


def expect(
    log: Fixture,
    error: type[VerificationError],
    seq: int,
    *,
    workers: int = 0,
    checkpoint_size: int | None = None,
    match: str | None = None,
) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(log, workers)
    failure = info.value
    assert type(failure) is error, f"{type(failure).__name__}: {failure}"
    assert failure.seq == seq, str(failure)
    assert failure.checkpoint_size == checkpoint_size, str(failure)
    if match is not None:
        assert match in failure.reason
    return failure


def spy_on_summaries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """The start of each summarized chunk the replay meets, and whether it accepted it."""
    admitted: list[tuple[int, bool]] = []
    admit_chunk = verify_module.LogVerifier._admit_chunk

    def spy(summary: verify_module.ChunkSummary, *rest: Any) -> bool:
        admitted.append((summary.start, admit_chunk(summary, *rest)))
        return admitted[-1][1]

    monkeypatch.setattr(verify_module.LogVerifier, "_admit_chunk", staticmethod(spy))
    return admitted


@pytest.fixture
def built(log: Fixture) -> Built:
    signers = build_log(log)
    summary = log.verifier().verify_log(log.ledger.iter_log())
    assert (summary.entries, summary.subjects) == (SIZE, 4)
    assert summary.checkpoint is not None and summary.checkpoint.size == SIZE
    return signers


class TestUntampered:
    @pytest.mark.parametrize("workers", [0, 2])
    def test_appends_during_verify_database_are_left_out(
        self, log: Fixture, built: Built, monkeypatch: pytest.MonkeyPatch, workers: int
    ) -> None:
        """What is appended after the log's size is read is not verified, and is no
        truncation: its checkpoints are beyond the snapshot."""
        read_size = LogReader.size

        def size_then_append(reader: LogReader, conn: Connection | None = None) -> int:
            size = read_size(reader, conn)
            monkeypatch.setattr(LogReader, "size", read_size)  # the appends read it too
            log.step(built.h1, LOT1, weight_kg=104)
            log.step(built.h1, LOT1, weight_kg=105)
            return size

        monkeypatch.setattr(LogReader, "size", size_then_append)
        url = log.engine.url.render_as_string(hide_password=False)
        summary = log.verifier(workers).verify_database(url)
        assert summary.entries == SIZE
        assert summary.checkpoint is not None and summary.checkpoint.size == SIZE
        assert log.ledger.size() == SIZE + 2
        assert log.verifier(workers).verify_database(url).entries == SIZE + 2

    def test_verify_database_takes_chunks_of_steps_summarized(
        self, log: Fixture, built: Built, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In chunks of two, the workers summarize the four chunks of steps (seq 2..9) and the
        replay accepts them so; the two with ``key.*`` statements come entry by entry."""
        admitted = spy_on_summaries(monkeypatch)
        monkeypatch.setattr(verify_module, "CHUNK", 2)
        url = log.engine.url.render_as_string(hide_password=False)
        summary = log.verifier(2).verify_database(url)
        assert admitted == [(2, True), (4, True), (6, True), (8, True)]
        assert (summary.entries, summary.subjects) == (SIZE, 4)
        assert summary.checkpoint is not None and summary.checkpoint.root == log.ledger.root(SIZE)

    @pytest.mark.parametrize("workers", [0, 2])
    def test_log_verifies(self, log: Fixture, built: Built, workers: int) -> None:
        summary = log.verifier(workers).verify_log(log.ledger.iter_log())
        assert summary.entries == SIZE
        assert summary.checkpoint is not None
        assert summary.checkpoint.root == log.ledger.root(SIZE)
        assert summary.line().startswith(f"OK: {SIZE} entries, 4 subjects, latest checkpoint")

    def test_bypass_that_changes_nothing_leaves_the_log_valid(
        self, log: Fixture, built: Built
    ) -> None:
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            rewrite_log(conn, statements_of(entries))
        assert log.ledger.entries(0, 100) == entries
        verify(log)


class TestStatementTampering:
    def test_flipped_digit_breaks_the_stored_hash(self, log: Fixture, built: Built) -> None:
        seq = tamper_flip_digit(log, rechained=False)
        expect(log, ChainError, seq, match="stored entry hash")

    @pytest.mark.parametrize("workers", [0, 2])
    def test_flipped_digit_with_rehashed_chain_fails_the_signature(
        self, log: Fixture, built: Built, workers: int
    ) -> None:
        seq = tamper_flip_digit(log, rechained=True)
        # the checkpoint after seq 6 no longer matches either, but the signature is named first
        expect(log, SignatureError, seq, workers=workers)

    @pytest.mark.parametrize("rechained", [False, True])
    def test_replaced_signature(self, log: Fixture, built: Built, rechained: bool) -> None:
        seq = 4
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            # a real Ed25519 signature over the same bytes, by the other household's key
            forged = built.h2.sign(entries[seq].statement.message)
            assert forged != entries[seq].statement.signature
            if rechained:
                items = statements_of(entries)
                items[seq] = (items[seq][0], SignedStatement(entries[seq].statement.data, forged))
                rewrite_log(conn, items)
            else:
                conn.execute(
                    text("UPDATE ledger_entries SET signature = :s WHERE seq = :q"),
                    {"s": forged, "q": seq},
                )
        if rechained:
            expect(log, SignatureError, seq)
        else:
            expect(log, ChainError, seq, match="stored entry hash")

    def test_statement_re_signed_by_the_subjects_other_key_breaks_the_key_rule(
        self, log: Fixture, built: Built, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # H001's step at seq 4 re-signed by H002 (naming H002's key): chain and signature hold
        seq = 4
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            obj = json.loads(entries[seq].statement.data)
            assert obj["subject"] == LOT1
            obj["key"] = built.h2.key_id
            data = canonical_json(obj)
            message = SignedStatement(data, b"").message
            items = statements_of(entries)
            items[seq] = (items[seq][0], SignedStatement(data, built.h2.sign(message)))
            rewrite_log(conn, items)
        expect(log, KeyValidityError, seq, match="subject belongs to household:H001")
        # Every check a worker makes on its own holds, so it summarizes seq 4..5; the rules
        # refuse the summary, and the chunk replayed entry by entry names the entry.
        admitted = spy_on_summaries(monkeypatch)
        monkeypatch.setattr(verify_module, "CHUNK", 2)
        url = log.engine.url.render_as_string(hide_password=False)
        with pytest.raises(KeyValidityError, match="subject belongs to household:H001") as info:
            log.verifier(2).verify_database(url)
        assert info.value.seq == seq
        assert admitted == [(2, True), (4, False)]


class TestEntryTampering:
    def test_subject_chain_cut_with_every_hash_recomputed(self, log: Fixture, built: Built) -> None:
        """seq 6 (lot:H001-1) claims to be its subject's first entry, and every hash and node
        from there on is recomputed: only the subject's chain shows it. In chunks of four the
        worker sees the link to seq 4; in chunks of two the replay does, across chunks."""
        with bypass(log.engine) as conn:
            rewrite_log(conn, statements_of(stored_entries(conn)), unlinked=6)
        expect(log, ChainError, 6, match="subject_prev_hash does not match the previous entry")

    def test_log_chain_cut_with_every_hash_recomputed(self, log: Fixture, built: Built) -> None:
        """seq 6 follows no entry of the log (prev_hash is unique, so it cannot claim to be the
        first), every hash and node from there on recomputed. Seen by the worker in chunks of
        four, by the replay across chunks in chunks of two."""
        with bypass(log.engine) as conn:
            rewrite_log(conn, statements_of(stored_entries(conn)), unchained=6)
        expect(log, ChainError, 6, match="prev_hash does not match the previous entry's hash")

    def test_receipt_moved_before_the_statement_time(self, log: Fixture, built: Built) -> None:
        """The operator back-dates seq 6's receipt to six minutes before its statement's time
        and recomputes every hash. In chunks of four, seq 6 is the second of lot:H001-1's
        entries by H001's key there: a summary's rules must still see it."""
        with bypass(log.engine) as conn:
            items = statements_of(stored_entries(conn))
            statement = items[6][1]
            items[6] = (statement.parse().time_micros - 6 * 60_000_000, statement)
            rewrite_log(conn, items)
        expect(log, VerificationError, 6, match="is after the time the log received it")

    def test_deleted_middle_entry(self, log: Fixture, built: Built) -> None:
        with bypass(log.engine) as conn:
            assert conn.execute(text("DELETE FROM ledger_entries WHERE seq = 6")).rowcount == 1
        expect(log, ChainError, 6, match="missing")

    def test_deleted_middle_entry_rechained_but_not_renumbered(
        self, log: Fixture, built: Built
    ) -> None:
        """Every link and hash after the gap is recomputed and the checkpoints that would
        place it are gone, so only the numbering shows it."""
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            kept = entries[:5] + entries[6:]
            rewrite_log(conn, statements_of(kept), numbers=[e.seq for e in kept])
            conn.execute(text("DELETE FROM ledger_checkpoints WHERE size BETWEEN 5 AND 11"))
        expect(log, ChainError, 5, match="entry 5 is missing (next entry is 6)")

    def test_deleted_middle_entry_renumbered_and_rechained(
        self, log: Fixture, built: Built
    ) -> None:
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            rewrite_log(conn, statements_of(entries[:6] + entries[7:]))
        # H001's steps stay a valid subject chain; only the signed checkpoint after 6 disagrees
        expect(log, CheckpointError, 6, checkpoint_size=7, match="root does not match")

    @pytest.mark.parametrize("workers", [0, 2])
    def test_swapped_entries(self, log: Fixture, built: Built, workers: int) -> None:
        with bypass(log.engine) as conn:
            conn.execute(text("UPDATE ledger_entries SET seq = -1 WHERE seq = 5"))
            conn.execute(text("UPDATE ledger_entries SET seq = 5 WHERE seq = 6"))
            conn.execute(text("UPDATE ledger_entries SET seq = 6 WHERE seq = -1"))
        expect(log, ChainError, 5, workers=workers, match="prev_hash")

    def test_inserted_in_the_middle_with_later_entries_renumbered(
        self, log: Fixture, built: Built
    ) -> None:
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            extra = log.statement(built.h1, "step.harvest", LOT1, {"weight_kg": 999})
            received = (entries[5].received_micros + entries[6].received_micros) // 2
            items = statements_of(entries)
            items.insert(6, (received, extra.sign(built.h1)))
            tree = rewrite_log(conn, items)
        assert log.ledger.size() == SIZE + 1
        assert tree.root() == log.ledger.root(SIZE + 1)  # the Merkle nodes are consistent
        # a genuine signature, right hashes and nodes: the checkpoint over 7 entries catches it
        expect(log, CheckpointError, 6, checkpoint_size=7, match="root does not match")

    def test_appended_without_a_checkpoint(self, log: Fixture, built: Built) -> None:
        statement = log.statement(built.h1, "step.sale", LOT1, {"buyer": "B01"}).sign(built.h1)
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            head = next(e for e in reversed(entries) if e.statement.parse().subject == LOT1)
            appended = Entry.build(
                seq=SIZE,
                received_micros=entries[-1].received_micros + 1,
                prev_hash=entries[-1].hash,
                subject_prev_hash=head.hash,
                statement=statement,
            )
            insert_entries(conn, [appended])
        expect(log, CheckpointError, SIZE, match="not covered")

    def test_truncated_tail_against_kept_checkpoints(self, log: Fixture, built: Built) -> None:
        with bypass(log.engine) as conn:
            assert conn.execute(text("DELETE FROM ledger_entries WHERE seq >= 9")).rowcount == 3
            count = conn.execute(text("SELECT count(*) FROM ledger_checkpoints")).scalar()
            assert count == SIZE
        expect(log, ChainError, 9, match="missing")

    @pytest.mark.parametrize("workers", [0, 2])
    def test_statement_by_a_revoked_key(self, log: Fixture, built: Built, workers: int) -> None:
        late = log.statement(built.h2, "step.harvest", LOT2, {"weight_kg": 204}).sign(built.h2)
        with pytest.raises(KeyNotValidError, match="revoked at seq 10"):
            log.ledger.append(late)  # the honest log refuses it
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            received = entries[-1].received_micros + 1
            tree = rewrite_log(conn, [*statements_of(entries), (received, late)])
            store_checkpoint(conn, log.log_key, SIZE + 1, tree.root())
        # everything but the key rule holds: hashes, nodes, a checkpoint signed by the log key
        assert log.ledger.root(SIZE + 1) == tree.root()
        assert log.ledger.entries(0, SIZE) == entries
        expect(log, KeyValidityError, SIZE, workers=workers, match="revoked at seq 10")


class TestCheckpointTampering:
    @pytest.mark.parametrize("workers", [0, 2])
    def test_wrong_signature(self, log: Fixture, built: Built, workers: int) -> None:
        with bypass(log.engine) as conn:
            note = conn.execute(text("SELECT note FROM ledger_checkpoints WHERE size = 7")).scalar()
            signed = SignedNote.parse(note)
            (sig,) = signed.signatures
            bad = bytearray(sig.signature)
            bad[0] ^= 0x01
            forged = SignedNote(signed.text, (type(sig)(sig.name, sig.key_id, bytes(bad)),))
            conn.execute(
                text("UPDATE ledger_checkpoints SET note = :n WHERE size = 7"),
                {"n": forged.render()},
            )
        expect(log, CheckpointError, 6, workers=workers, checkpoint_size=7, match="does not verify")

    def test_signed_by_an_impostor_key_of_the_same_name(self, log: Fixture, built: Built) -> None:
        impostor = seeded_signer(log.log_key.name, 99)
        with bypass(log.engine) as conn:
            store_checkpoint(conn, impostor, 7, log.ledger.root(7, conn))
        expect(log, CheckpointError, 6, checkpoint_size=7, match="no signature by the log key")

    def test_inconsistent_checkpoint_signed_by_the_log_key(
        self, log: Fixture, built: Built
    ) -> None:
        # the log key signs a fork: the first 7 entries, then another entry where seq 7 is
        with bypass(log.engine) as conn:
            entries = stored_entries(conn)
            fork = log.statement(built.h2, "step.harvest", LOT2, {"weight_kg": 666})
            _, tree = rechain([*statements_of(entries[:7]), (1, fork.sign(built.h2))])
            assert tree.size == 8 and tree.root() != log.ledger.root(8, conn)
            store_checkpoint(conn, log.log_key, 8, tree.root())
        expect(log, CheckpointError, 7, checkpoint_size=8, match="inconsistent with checkpoint 7")

    def test_two_checkpoints_of_one_size(self, log: Fixture, built: Built) -> None:
        # a bundle can carry what the table cannot: a second, contradicting note for size 8
        other = Checkpoint(log.log_key.name, 8, hashlib.sha256(b"fork").digest()).sign(log.log_key)
        items: list[Entry | str] = []
        for item in log.ledger.iter_log():
            items.append(item)
            if item == log.ledger.checkpoint(8).note:
                items.append(other)
        assert items.count(other) == 1
        with pytest.raises(CheckpointError, match="out of order") as info:
            log.verifier().verify_log(items)
        assert (info.value.seq, info.value.checkpoint_size) == (7, 8)


class TestAppendOnlyTriggers:
    @pytest.fixture
    def filled(self, log: Fixture, built: Built) -> Fixture:
        with log.engine.connect() as conn:
            for table in LEDGER_TABLES:
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar(), table
        return log

    @staticmethod
    def _count(engine: Engine, table: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)

    @pytest.mark.parametrize("table", LEDGER_TABLES)
    @pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
    def test_refused(self, filled: Fixture, table: str, operation: str) -> None:
        column = next(iter(metadata.tables[table].columns)).name
        sql = (
            f"UPDATE {table} SET {column} = {column}"
            if operation == "UPDATE"
            else f"DELETE FROM {table}"
        )
        before = self._count(filled.engine, table)
        with pytest.raises(exc.DBAPIError, match="append-only"), filled.engine.begin() as conn:
            conn.execute(text(sql))
        assert self._count(filled.engine, table) == before
        verify(filled)

    def test_appends_still_work_and_the_bypass_is_scoped(self, filled: Fixture) -> None:
        with bypass(filled.engine) as conn:
            conn.execute(text("UPDATE ledger_nodes SET hash = hash"))
        with pytest.raises(exc.DBAPIError, match="append-only"), filled.engine.begin() as conn:
            conn.execute(text("DELETE FROM ledger_entries WHERE seq = 0"))
        h3, entry = filled.register("household:H003", 14)
        assert entry.seq == SIZE
        filled.step(h3, "lot:H003-1", weight_kg=1)
        verify(filled)


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
class TestTruncateRefused:
    """TRUNCATE skips row triggers; a statement trigger refuses it (SQLite has no TRUNCATE)."""

    @pytest.mark.parametrize("table", LEDGER_TABLES)
    def test_refused(self, log: Fixture, built: Built, table: str) -> None:
        with pytest.raises(exc.DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
        with log.engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()

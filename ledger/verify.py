"""Verification of a whole log or of one subject's bundle, trusting only the given public keys.

Usage::

    verifier = LogVerifier(log_key=NoteVerifier.from_vkey(vkey), authority_keys=[...])
    summary = verifier.verify_log(entries, checkpoint_notes)   # raises VerificationError

Worker processes take the log in chunks and do everything that needs no earlier entry: parse
and check each statement, recompute each entry hash, and check every signature. This process
replays what is sequential (seq numbers, hash chains, subject chains, the key rules, the Merkle
tree, checkpoints) over their compact results, in log order, so the first failure named is the
first bad entry. At most a few chunks are in flight: memory is bounded by the number of
subjects and keys, not by the number of entries.

When the workers read the database themselves (:meth:`LogVerifier.verify_database`), a chunk
whose entries pass every check that needs nothing before it, and that changes no key, comes back
summarized: the links into it, each subject's first and last entry in it, one entry per subject
and signing key for the rules, and its Merkle leaves folded. The replay applies the rules to the
summary on a fork of its state and keeps the result only if every entry passes; otherwise it
replays the chunk entry by entry, as for any other.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .checkpoint import Checkpoint, SignedNote
from .encoding import b64decode
from .entry import ZERO_HASH, Entry, entry_hash
from .errors import (
    ChainError,
    CheckpointError,
    InvalidStatementError,
    KeyValidityError,
    LedgerError,
    MalformedError,
    ProofError,
    SignatureError,
    VerificationError,
)
from .keys import NoteVerifier, statement_key_id
from .merkle import CompactRange, leaf_hash, verify_inclusion
from .rules import KeyNotValidError, KeyRecord, LogState, RuledStatement
from .schema import open_engine
from .statement import KEY_REGISTER, KEY_REVOKE, STATEMENT_DOMAIN, parse_fields
from .store import EntryRow, LogReader, interleave_notes

# Entries per chunk: large enough that pickling and scheduling cost little per entry.
CHUNK = 1024
# Chunks in flight per worker. Results are replayed in order, so a worker that falls behind
# (descheduled on a busy machine) stalls the others once they run out of chunks ahead.
AHEAD = 4


class Ruled(NamedTuple):
    """What the replay's rules read of a statement (see :class:`~ledger.rules.RuledStatement`).
    The body is kept for ``key.*`` statements only."""

    kind: str
    subject: str
    key: str
    time_micros: int
    body: dict[str, Any]


# A worker's verdict on an entry: the statement's Ruled fields as a plain tuple (a named tuple
# costs several times more to pickle) or why it is rejected, whether the stored hash is right,
# the Merkle leaf hash, and whether the signature verifies (None: the worker did not know the
# key yet). On a note: whether its log signatures verify (None: malformed, or no such signature).
EntryVerdict = tuple[tuple[str, str, str, int, dict[str, Any]] | str, bool, bytes, bool | None]
Verdict = EntryVerdict | bool | None


def _verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


class _Checker:
    """The per-entry checks, in a worker process (or inline), with the public keys it knows.

    A statement names its key by id, the SHA-256 of the public key, so a public key learnt from
    anywhere is the right one for its id: from the authorities, or from any ``key.register``
    body, whether or not the rules accept that statement. The checker learns them from the
    register statements of its own chunks as it goes, and from those of earlier chunks that
    other workers checked. Whether a key may sign a statement where it does is the replay's
    business.
    """

    def __init__(self, log_key: NoteVerifier, authorities: Iterable[bytes]) -> None:
        self.log_key = log_key
        self.log_public = Ed25519PublicKey.from_public_bytes(log_key.public_key)
        self.log_key_id = log_key.key_id
        self.keys = {
            statement_key_id(key): Ed25519PublicKey.from_public_bytes(key) for key in authorities
        }

    def learn(self, registers: Iterable[bytes]) -> None:
        """Learn the keys that these statements (``key.register`` ones, as a rule) register."""
        for data in registers:
            with suppress(InvalidStatementError):  # the replay rejects it
                kind, _, _, _, body, _ = parse_fields(data)
                self._learn(kind, body)

    def learn_public_keys(self, public_keys: Iterable[bytes]) -> None:
        for public_key in public_keys:
            key_id = statement_key_id(public_key)
            if key_id not in self.keys:
                with suppress(ValueError):  # not a key: nothing can be signed by it
                    self.keys[key_id] = Ed25519PublicKey.from_public_bytes(public_key)

    def _learn(self, kind: str, body: dict[str, Any]) -> None:
        encoded = body.get("public_key")
        if kind == KEY_REGISTER and isinstance(encoded, str):
            try:
                public_key = b64decode(encoded, what="public key", length=32)
            except LedgerError:
                return  # the replay rejects it
            self.learn_public_keys([public_key])

    def check(self, items: Sequence[EntryRow | str]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        signatures: list[tuple[int, Ed25519PublicKey, bytes, bytes]] = []
        for item in items:
            if isinstance(item, str):
                verdicts.append(self.note(item))
            else:
                verdicts.append(self.entry(item, signatures, len(verdicts)))
        # The signatures last, in one tight loop: interleaved with the parsing they took ~15%
        # longer each (the Python work evicts the Ed25519 code's data from the CPU caches).
        for index, key, signature, message in signatures:
            verdict = verdicts[index]
            assert isinstance(verdict, tuple)
            verdicts[index] = (*verdict[:3], _verify_signature(key, signature, message))
        return verdicts

    def entry(
        self,
        row: EntryRow,
        signatures: list[tuple[int, Ed25519PublicKey, bytes, bytes]],
        index: int,
    ) -> EntryVerdict:
        """The verdict on one entry; its signature check is appended to ``signatures``."""
        seq, received, prev, subject_prev, data, signature, stored = row
        message = STATEMENT_DOMAIN + data
        hash_ok = stored == entry_hash(
            seq=seq,
            received_micros=received,
            prev_hash=prev,
            subject_prev_hash=subject_prev,
            statement_digest=hashlib.sha256(message).digest(),
            signature=signature,
        )
        leaf = leaf_hash(stored)
        try:
            kind, subject, key_id, time_micros, body, _ = parse_fields(data)
        except InvalidStatementError as exc:
            return str(exc), hash_ok, leaf, None
        if kind == KEY_REGISTER:
            self._learn(kind, body)
        key = self.keys.get(key_id)
        if key is not None and hash_ok:  # a bad hash fails the entry before its signature
            signatures.append((index, key, signature, message))
        ruled = (
            kind,
            subject,
            key_id,
            time_micros,
            body if kind in (KEY_REGISTER, KEY_REVOKE) else {},
        )
        return ruled, hash_ok, leaf, None

    def note(self, note: str) -> bool | None:
        try:
            signed = SignedNote.parse(note)
        except MalformedError:
            return None
        text = signed.text.encode()
        matching = [
            s
            for s in signed.signatures
            if s.name == self.log_key.name and s.key_id == self.log_key_id
        ]
        if not matching:
            return None
        return all(_verify_signature(self.log_public, s.signature, text) for s in matching)


# A canonical key.register statement holds these bytes; other statements rarely do, and are
# only parsed once more if they do.
_REGISTER_MARK = b'"kind":"key.register"'
_worker: _Checker | None = None
_reader: LogReader | None = None


def _start_worker(
    log_key: NoteVerifier, authorities: list[bytes], database_url: str | None
) -> None:
    global _worker, _reader
    _worker = _Checker(log_key, authorities)
    if database_url is not None:
        _reader = LogReader(open_engine(database_url))
        # The keys table only tells the worker which public keys exist; whether one may sign
        # where it does is still the replay's decision, from the statements themselves.
        _worker.learn_public_keys(_reader.key_public_keys())


def _check_in_worker(registers: list[bytes], items: list[EntryRow | str]) -> list[Verdict]:
    assert _worker is not None
    _worker.learn(registers)
    return _worker.check(items)


class ChunkSummary(NamedTuple):
    """A worker's account of the entries ``[start, start + entries)``, made when each passed the
    checks that need nothing from before the chunk and none of them is a ``key.*`` statement,
    so the keys' state is the same for all of them. The replay then applies the rules once per
    subject and signing key, not once per entry.
    """

    start: int
    entries: int
    first_prev_hash: bytes
    last_hash: bytes
    subjects: dict[str, tuple[bytes, bytes]]
    """Each subject's first ``subject_prev_hash`` here and its last entry's hash, in order."""
    signers: list[tuple[tuple[str, str, str, int, dict[str, Any]], int, int]]
    """For each (subject, key) in order of first use: of its entries here, the one whose time
    is latest against its receipt, as (Ruled fields, seq, received micros). The rules read
    nothing else that differs between them: the keys do not change within the chunk."""
    notes: list[tuple[int, str]]
    """The checkpoint notes as given to the worker, by size."""
    note_checks: list[tuple[str, bool | None, CompactRange]]
    """Per note, in log order: the note, its signature verdict, and the Merkle leaves of the
    entries before it here as a compact range."""
    tree: CompactRange
    """The Merkle leaves of all its entries."""


# What the replay gets for each chunk of the log.
Checked = ChunkSummary | tuple[list[EntryRow | str], list[Verdict]]


def _checked_range(
    checker: _Checker, reader: LogReader, start: int, stop: int, notes: list[tuple[int, str]]
) -> tuple[list[EntryRow | str], list[Verdict]]:
    """Read the next ``stop - start`` entries from seq ``start``, place ``notes`` among them and
    check them all.

    If entries are missing, the rows read run past ``stop``: the replay stops at the first gap
    it meets, before any row that the next chunk reads again.
    """
    rows = reader.entry_rows(start, stop - start)
    items = list(interleave_notes(rows, notes))
    return items, checker.check(items)


def _summarize(
    start: int,
    stop: int,
    notes: list[tuple[int, str]],
    items: list[EntryRow | str],
    verdicts: list[Verdict],
) -> ChunkSummary | None:
    """The chunk's summary, or None where the replay must see each entry: a failed check, a
    ``key.*`` statement, a signature not checked, entries not exactly ``[start, stop)``, or
    leaves whose subtrees would not be aligned in the whole tree."""
    count = stop - start
    if count == 0 or start % (1 << (count - 1).bit_length()):
        return None
    tree = CompactRange()
    subjects: dict[str, tuple[bytes, bytes]] = {}
    signers: dict[tuple[str, str], tuple[tuple[str, str, str, int, dict[str, Any]], int, int]] = {}
    note_checks: list[tuple[str, bool | None, CompactRange]] = []
    first_prev = prev = b""
    for item, verdict in zip(items, verdicts, strict=True):
        if isinstance(item, str):
            assert not isinstance(verdict, tuple)
            note_checks.append((item, verdict, tree.copy()))
            continue
        assert isinstance(verdict, tuple)
        seq, received, prev_hash, subject_prev, _, _, stored = item
        fields, hash_ok, leaf, signature_ok = verdict
        if (
            seq != start + tree.size
            or (tree.size and prev_hash != prev)
            or isinstance(fields, str)
            or not hash_ok
            or signature_ok is not True
            or fields[0] in (KEY_REGISTER, KEY_REVOKE)
        ):
            return None
        if not tree.size:
            first_prev = prev_hash
        subject, key, time_micros = fields[1], fields[2], fields[3]
        chain = subjects.get(subject)
        if chain is None:
            subjects[subject] = (subject_prev, stored)
        elif subject_prev != chain[1]:
            return None
        else:
            subjects[subject] = (chain[0], stored)
        worst = signers.get((subject, key))
        if worst is None or time_micros - received > worst[0][3] - worst[2]:
            signers[subject, key] = (fields, seq, received)
        tree.push(0, leaf)
        prev = stored
    if tree.size != count:
        return None
    return ChunkSummary(
        start, count, first_prev, prev, subjects, list(signers.values()), notes, note_checks, tree
    )


def _summarized_range(
    checker: _Checker, reader: LogReader, start: int, stop: int, notes: list[tuple[int, str]]
) -> Checked:
    """:func:`_checked_range`, summarized if the chunk qualifies."""
    items, verdicts = _checked_range(checker, reader, start, stop, notes)
    return _summarize(start, stop, notes, items, verdicts) or (items, verdicts)


def _check_range_in_worker(start: int, stop: int, notes: list[tuple[int, str]]) -> Checked:
    """:func:`_summarized_range` in a worker; rows not summarized go back without the statement and
    signature where the replay has no use for them (their signature was checked here)."""
    assert _worker is not None and _reader is not None
    result = _summarized_range(_worker, _reader, start, stop, notes)
    if isinstance(result, ChunkSummary):
        return result
    items, verdicts = result
    for index, (item, verdict) in enumerate(zip(items, verdicts, strict=True)):
        if not isinstance(item, str) and isinstance(verdict, tuple) and verdict[3] is not None:
            seq, received, prev, subject_prev, _, _, stored = item
            items[index] = (seq, received, prev, subject_prev, b"", b"", stored)
    return items, verdicts


def _chunks(
    size: int, notes: Iterator[tuple[int, str]]
) -> Iterator[tuple[int, int, list[tuple[int, str]]]]:
    """The log of ``size`` entries and its checkpoint ``notes`` (by size) in chunks of
    ``CHUNK`` entries: (start, stop, the notes placed among or after those entries)."""
    note = next(notes, None)
    for start in range(0, max(size, 1), CHUNK):  # an empty log: its notes alone
        stop = min(start + CHUNK, size)
        mine = []  # the notes before the first entry at or beyond ``stop``
        while note is not None and (note[0] <= stop or stop == size):
            mine.append(note)
            note = next(notes, None)
        yield start, stop, mine


class _Workers:
    """Worker processes, each fed its own chunks in turn, so each can be told what it missed:
    the ``key.register`` statements in the chunks that went to the others."""

    def __init__(
        self,
        workers: int,
        log_key: NoteVerifier,
        authorities: list[bytes],
        database_url: str | None = None,
    ) -> None:
        self.pools = [
            ProcessPoolExecutor(
                1, initializer=_start_worker, initargs=(log_key, authorities, database_url)
            )
            for _ in range(workers)
        ]
        self.registers: list[bytes] = []
        self.told = [0] * workers  # how many of the registers each worker has seen
        self.turn = 0

    def submit(self, items: list[EntryRow | str]) -> Future[list[Verdict]]:
        index = self.turn
        self.turn = (index + 1) % len(self.pools)
        missed = self.registers[self.told[index] :]
        self.registers.extend(
            item[4] for item in items if not isinstance(item, str) and _REGISTER_MARK in item[4]
        )
        self.told[index] = len(self.registers)
        return self.pools[index].submit(_check_in_worker, missed, items)

    def submit_range(self, start: int, stop: int, notes: list[tuple[int, str]]) -> Future[Checked]:
        index = self.turn
        self.turn = (index + 1) % len(self.pools)
        return self.pools[index].submit(_check_range_in_worker, start, stop, notes)

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(cancel_futures=True)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class LogSummary:
    entries: int
    subjects: int
    checkpoint: Checkpoint | None

    def line(self) -> str:
        if self.checkpoint is None:
            return f"OK: {self.entries} entries, {self.subjects} subjects, no checkpoint"
        return (
            f"OK: {self.entries} entries, {self.subjects} subjects, latest checkpoint "
            f"{self.checkpoint.origin} size {self.checkpoint.size} root "
            f"{self.checkpoint.text().splitlines()[2]}"
        )


@dataclass(frozen=True)
class ProvenEntry:
    """An entry of a subject bundle with its inclusion proof against the bundle's checkpoint."""

    entry: Entry
    proof: tuple[bytes, ...]


class LogVerifier:
    """Verifies logs and bundles against two trust roots: the log key and the authority keys."""

    def __init__(
        self,
        *,
        log_key: NoteVerifier,
        authority_keys: Sequence[NoteVerifier],
        workers: int | None = None,
    ) -> None:
        if not authority_keys:
            raise ValueError("at least one authority key is required")
        self.log_key = log_key
        self.authorities = {a.statement_key_id: a for a in authority_keys}
        self.workers = default_workers() if workers is None else workers

    # -- whole log -----------------------------------------------------------------------------
    def verify_log(self, items: Iterable[Entry | EntryRow | str]) -> LogSummary:
        """Replay a log and check its checkpoints; raise :class:`VerificationError`.

        ``items`` are the entries (or their stored rows, see :meth:`LogReader.iter_log_rows`)
        in seq order with each signed checkpoint note placed right after the entry that
        completes its tree size (the order of a log bundle). A log verifies
        when entries are numbered 0, 1, 2... with no gap, every hash-chain link and stored hash
        holds, every statement is signed by a key valid for it at its position, every
        checkpoint is signed by the log key over the root of the entries before it, and the
        last checkpoint covers every entry. Failures are reported in log order: the first bad
        entry (or checkpoint) is the one named, whichever check finds it. An error raised by
        ``items`` itself comes after any failure in the items before it.
        """
        return self._replay_log(self._verdicts(items))

    def verify_database(self, url: str) -> LogSummary:
        """:meth:`verify_log` over the log in the database at ``url`` (its entries and
        checkpoints in the order of :meth:`LogReader.iter_log_rows`), with the same checks
        and failures, as of when it starts: what is appended meanwhile is left out.

        Each worker reads its own entries, so they do not pass through this process: it reads
        only the checkpoints, and gets back the verdicts and the hashes the replay needs, or a
        chunk's summary. Without workers, this process reads and summarizes the same chunks.
        """
        engine = open_engine(url)
        try:
            reader = LogReader(engine)
            # A snapshot that appends made meanwhile cannot tear (an append commits its entries
            # and their checkpoint together), and that still holds a checkpoint beyond the last
            # entry if the log was cut short.
            latest = reader.latest_checkpoint()
            size = reader.size()
            limit = max(size, 0 if latest is None else latest.size)
            notes = (
                (c.size, c.note)
                for c in itertools.takewhile(lambda c: c.size <= limit, reader.iter_checkpoints())
            )
            checker = _Checker(self.log_key, [a.public_key for a in self.authorities.values()])
            checker.learn_public_keys(reader.key_public_keys())
            chunks = _chunks(size, notes)
            if self.workers == 0:
                checked = (_summarized_range(checker, reader, *chunk) for chunk in chunks)
            else:
                checked = self._range_verdicts(url, chunks)

            def recheck(summary: ChunkSummary) -> tuple[list[EntryRow | str], list[Verdict]]:
                stop = summary.start + summary.entries
                return _checked_range(checker, reader, summary.start, stop, summary.notes)

            return self._replay_log(checked, recheck)
        finally:
            engine.dispose()

    def _replay_log(
        self,
        checked: Generator[Checked, None, None],
        recheck: Callable[[ChunkSummary], tuple[list[EntryRow | str], list[Verdict]]] | None = None,
    ) -> LogSummary:
        """Replay chunks of the log in order, each as its items with the checker's verdicts or
        as a summary. A summary whose entries do not all pass the rules is replayed entry by
        entry (``recheck`` gives its items), so the failure named is still the first."""
        state = LogState(self.authorities)
        tree = CompactRange()
        prev = ZERO_HASH
        latest: Checkpoint | None = None
        with closing(checked) as chunks:  # stops the workers
            for result in chunks:
                if isinstance(result, ChunkSummary):
                    if self._admit_chunk(result, state, tree, prev):
                        for note, signature_ok, leaves in result.note_checks:
                            at_note = tree.copy()
                            at_note.extend(leaves)
                            latest = self._check_checkpoint(note, signature_ok, at_note, latest)
                        tree.extend(result.tree)
                        prev = result.last_hash
                        continue
                    assert recheck is not None
                    result = recheck(result)
                chunk, verdicts = result
                for item, verdict in zip(chunk, verdicts, strict=True):
                    if isinstance(item, str):
                        assert not isinstance(verdict, tuple)
                        latest = self._check_checkpoint(item, verdict, tree, latest)
                    else:
                        assert isinstance(verdict, tuple)
                        self._replay(item, verdict, tree.size, prev, state, tree)
                        prev = item[6]
        if tree.size and (latest is None or latest.size != tree.size):
            covered = 0 if latest is None else latest.size
            raise CheckpointError("entry is not covered by any signed checkpoint", seq=covered)
        return LogSummary(tree.size, len(state.subjects), latest)

    @staticmethod
    def _admit_chunk(
        summary: ChunkSummary, state: LogState, tree: CompactRange, prev: bytes
    ) -> bool:
        """Apply the rules and the chains' links to a summarized chunk that comes after
        ``tree.size`` entries, the last with hash ``prev``. True: every entry passes, and
        ``state`` is advanced past them. False: not all do, and ``state`` is as it was."""
        if summary.start != tree.size or summary.first_prev_hash != prev:
            return False
        fork = state.fork()
        try:
            for fields, seq, received in summary.signers:
                fork.admit(Ruled(*fields), seq=seq, received_micros=received)
        except InvalidStatementError:
            return False
        for subject, (first_prev, last) in summary.subjects.items():
            if fork.subject_head(subject) != first_prev:
                return False
            fork.advance(subject, last)
        state.adopt(fork)
        return True

    def _verdicts(self, items: Iterable[Entry | EntryRow | str]) -> Generator[Checked, None, None]:
        """The items in chunks, in order, each with the checker's verdicts on its items; chunks
        are checked ahead."""
        authorities = [a.public_key for a in self.authorities.values()]
        inline = _Checker(self.log_key, authorities) if self.workers == 0 else None
        workers = None if inline else _Workers(self.workers, self.log_key, authorities)
        pending: deque[tuple[list[EntryRow | str], Future[list[Verdict]]]] = deque()
        source = iter(items)
        failure: Exception | None = None
        try:
            while failure is None:
                chunk: list[EntryRow | str] = []
                try:
                    for item in source:
                        chunk.append(_row(item) if isinstance(item, Entry) else item)
                        if len(chunk) == CHUNK:
                            break
                except Exception as exc:  # e.g. a malformed bundle line; raised in its turn
                    failure = exc
                if not chunk:
                    break
                if inline is not None:  # it sees every key.register statement, in order
                    yield chunk, inline.check(chunk)
                    continue
                assert workers is not None
                pending.append((chunk, workers.submit(chunk)))
                while len(pending) > AHEAD * self.workers:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            if workers is not None:
                workers.close()
        if failure is not None:
            raise failure

    def _range_verdicts(
        self, url: str, chunks: Iterable[tuple[int, int, list[tuple[int, str]]]]
    ) -> Generator[Checked, None, None]:
        """:meth:`_verdicts` for the database at ``url`` in ``chunks`` (see :func:`_chunks`),
        each read by the worker that checks it, and summarized where it can be."""
        authorities = [a.public_key for a in self.authorities.values()]
        workers = _Workers(self.workers, self.log_key, authorities, database_url=url)
        pending: deque[Future[Checked]] = deque()
        try:
            for start, stop, notes in chunks:
                pending.append(workers.submit_range(start, stop, notes))
                while len(pending) > AHEAD * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            workers.close()

    def _replay(
        self,
        row: EntryRow,
        verdict: EntryVerdict,
        expected: int,
        prev: bytes,
        state: LogState,
        tree: CompactRange,
    ) -> None:
        seq, received, prev_hash, subject_prev_hash, data, signature, stored = row
        if seq != expected:
            if seq > expected:
                raise ChainError(f"entry {expected} is missing (next entry is {seq})", seq=expected)
            raise ChainError(f"entry {seq} is out of order or repeated", seq=expected)
        if prev_hash != prev:
            raise ChainError("prev_hash does not match the previous entry's hash", seq=seq)
        fields, hash_ok, leaf, signature_ok = verdict
        if isinstance(fields, str):
            raise VerificationError(f"statement rejected: {fields}", seq=seq)
        parsed = Ruled(*fields)
        signer = self._admit(parsed, seq, received, state)
        if subject_prev_hash != state.subject_head(parsed.subject):
            raise ChainError(
                f"subject_prev_hash does not match the previous entry of {parsed.subject}", seq=seq
            )
        if not hash_ok:
            raise ChainError("stored entry hash does not match the entry's contents", seq=seq)
        state.advance(parsed.subject, stored)
        tree.append(leaf)
        if signature_ok is None:  # a key the worker was not told of: not met in a valid log
            signature_ok = _verify_signature(
                Ed25519PublicKey.from_public_bytes(signer.public_key),
                signature,
                STATEMENT_DOMAIN + data,
            )
        if not signature_ok:
            raise SignatureError("statement signature does not verify under its key", seq=seq)

    @staticmethod
    def _admit(
        parsed: RuledStatement, seq: int, received_micros: int, state: LogState
    ) -> KeyRecord:
        """Apply the log's rules to the statement at ``seq``; return its signer's key."""
        try:
            return state.admit(parsed, seq=seq, received_micros=received_micros)
        except KeyNotValidError as exc:
            raise KeyValidityError(exc.reason, seq=seq) from exc
        except InvalidStatementError as exc:
            raise VerificationError(f"statement rejected: {exc}", seq=seq) from exc

    @staticmethod
    def _check_hash(entry: Entry) -> None:
        computed = entry_hash(
            seq=entry.seq,
            received_micros=entry.received_micros,
            prev_hash=entry.prev_hash,
            subject_prev_hash=entry.subject_prev_hash,
            statement_digest=entry.statement.digest,
            signature=entry.statement.signature,
        )
        if computed != entry.hash:
            raise ChainError("stored entry hash does not match the entry's contents", seq=entry.seq)

    def _check_checkpoint(
        self, note: str, signature_ok: Verdict, tree: CompactRange, latest: Checkpoint | None
    ) -> Checkpoint:
        """Check a checkpoint met after ``tree.size`` entries, its signature checked ahead."""
        try:
            signed = SignedNote.parse(note)
            checkpoint = Checkpoint.from_text(signed.text)
        except MalformedError as exc:
            raise CheckpointError(f"malformed checkpoint: {exc}", seq=tree.size) from exc
        if checkpoint.size > tree.size:
            raise ChainError(
                f"entries {tree.size}..{checkpoint.size - 1} are missing: "
                f"a checkpoint covers {checkpoint.size} entries",
                seq=tree.size,
            )
        where = {"seq": checkpoint.size - 1, "checkpoint_size": checkpoint.size}
        if checkpoint.size < tree.size or (latest is not None and checkpoint.size <= latest.size):
            raise CheckpointError("checkpoint is out of order", **where)
        if checkpoint.origin != self.log_key.name:
            raise CheckpointError(f"origin {checkpoint.origin!r} is not this log's", **where)
        if not any(
            s.name == self.log_key.name and s.key_id == self.log_key.key_id
            for s in signed.signatures
        ):
            raise CheckpointError("carries no signature by the log key", **where)
        if checkpoint.root != tree.root():
            against = f" (inconsistent with checkpoint {latest.size})" if latest else ""
            raise CheckpointError(f"root does not match the entries{against}", **where)
        if not signature_ok:
            raise CheckpointError("log signature does not verify", **where)
        return checkpoint

    # -- one subject -----------------------------------------------------------------------
    def verify_subject(
        self, subject: str, checkpoint_note: str, entries: Sequence[ProvenEntry]
    ) -> LogSummary:
        """Verify a subject bundle offline; raise :class:`VerificationError`.

        ``entries`` are the subject's entries and the ``key.register``/``key.revoke`` entries of
        the keys that signed them, each with its inclusion proof against the checkpoint. The
        subject's entries must form an unbroken chain from its first entry. A bundle cannot
        prove that no later revocation exists; a whole-log verification can.
        """
        try:
            checkpoint = Checkpoint.verify_note(checkpoint_note, self.log_key)
        except MalformedError as exc:
            raise CheckpointError(str(exc)) from exc
        state = LogState(self.authorities)
        own = 0
        for proven in sorted(entries, key=lambda p: p.entry.seq):
            entry = proven.entry
            if entry.seq >= checkpoint.size:
                raise ProofError("entry is beyond the checkpoint", seq=entry.seq)
            self._check_hash(entry)
            try:
                verify_inclusion(
                    entry.seq, checkpoint.size, entry.leaf_hash, proven.proof, checkpoint.root
                )
            except ProofError as exc:
                raise ProofError(
                    f"not included in the checkpoint: {exc.reason}", seq=entry.seq
                ) from exc
            try:
                parsed = entry.statement.parse()
            except InvalidStatementError as exc:
                raise VerificationError(f"statement rejected: {exc}", seq=entry.seq) from exc
            signer = self._admit(parsed, entry.seq, entry.received_micros, state)
            if parsed.subject == subject:
                own += 1
                if entry.subject_prev_hash != state.subject_head(subject):
                    raise ChainError(
                        "subject_prev_hash does not match the previous entry of the subject",
                        seq=entry.seq,
                    )
            state.advance(parsed.subject, entry.hash)
            if not _verify_signature(
                Ed25519PublicKey.from_public_bytes(signer.public_key),
                entry.statement.signature,
                entry.statement.message,
            ):
                raise SignatureError(
                    "statement signature does not verify under its key", seq=entry.seq
                )
        if own == 0:
            raise VerificationError(f"the bundle holds no entry of {subject}")
        return LogSummary(own, 1, checkpoint)


def _row(entry: Entry) -> EntryRow:
    statement = entry.statement
    return (
        entry.seq,
        entry.received_micros,
        entry.prev_hash,
        entry.subject_prev_hash,
        statement.data,
        statement.signature,
        entry.hash,
    )

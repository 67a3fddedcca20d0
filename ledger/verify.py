"""Verification of a whole log or of one subject's bundle, trusting only the given public keys.

Usage::

    verifier = LogVerifier(log_key=NoteVerifier.from_vkey(vkey), authority_keys=[...])
    summary = verifier.verify_log(entries, checkpoint_notes)   # raises VerificationError

The replay is one sequential pass (chains, keys, Merkle tree, checkpoints) in this process while
Ed25519 signature checks, the costly part, run on a pool of worker processes. Memory is bounded by
the number of subjects and keys, not by the number of entries.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .checkpoint import Checkpoint, SignedNote
from .entry import ZERO_HASH, Entry, entry_hash
from .errors import (
    ChainError,
    CheckpointError,
    InvalidStatementError,
    KeyValidityError,
    MalformedError,
    ProofError,
    SignatureError,
    VerificationError,
)
from .keys import NoteVerifier
from .merkle import CompactRange, verify_inclusion
from .rules import KeyNotValidError, LogState
from .statement import ParsedStatement

CHUNK = 512
Job = tuple[int, bytes, bytes, bytes]  # (seq, public key, message, signature)
SignatureKind = Literal["statement", "checkpoint"]

_key_cache: dict[bytes, Ed25519PublicKey] = {}


def first_bad_signature(jobs: Sequence[Job]) -> int | None:
    """Index of the first job whose signature does not verify, or None. Runs in workers."""
    for index, (_, public_key, message, signature) in enumerate(jobs):
        key = _key_cache.get(public_key)
        if key is None:
            key = _key_cache[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return index
    return None


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


class _SignatureQueue:
    """Signature checks in ordered batches, on a process pool or inline; bounded in flight."""

    def __init__(self, workers: int) -> None:
        self.pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None
        self.pending: deque[tuple[list[Job], list[SignatureKind], Future[int | None] | None]] = (
            deque()
        )
        self.jobs: list[Job] = []
        self.kinds: list[SignatureKind] = []
        self.limit = max(2, workers * 3)

    def add(self, job: Job, kind: SignatureKind) -> None:
        self.jobs.append(job)
        self.kinds.append(kind)
        if len(self.jobs) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.jobs:
            return
        future = self.pool.submit(first_bad_signature, self.jobs) if self.pool else None
        self.pending.append((self.jobs, self.kinds, future))
        self.jobs, self.kinds = [], []
        while len(self.pending) > self.limit:
            self._check_oldest()

    def _check_oldest(self) -> None:
        jobs, kinds, future = self.pending.popleft()
        bad = future.result() if future is not None else first_bad_signature(jobs)
        if bad is not None:
            seq = jobs[bad][0]
            if kinds[bad] == "checkpoint":
                raise CheckpointError(
                    "log signature does not verify", seq=seq - 1, checkpoint_size=seq
                )
            raise SignatureError("statement signature does not verify under its key", seq=seq)

    def drain(self) -> None:
        self.flush()
        while self.pending:
            self._check_oldest()

    def close(self) -> None:
        for _, _, future in self.pending:
            if future is not None:
                future.cancel()
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
    def verify_log(self, items: Iterable[Entry | str]) -> LogSummary:
        """Replay a log and check its checkpoints; raise :class:`VerificationError`.

        ``items`` are the entries in seq order with each signed checkpoint note placed right
        after the entry that completes its tree size (the order of a log bundle). A log verifies
        when entries are numbered 0, 1, 2... with no gap, every hash-chain link and stored hash
        holds, every statement is signed by a key valid for it at its position, every
        checkpoint is signed by the log key over the root of the entries before it, and the
        last checkpoint covers every entry.
        """
        state = LogState(self.authorities)
        tree = CompactRange()
        prev = ZERO_HASH
        queue = _SignatureQueue(self.workers)
        latest: Checkpoint | None = None
        failure: VerificationError | None = None
        try:
            try:
                for item in items:
                    if isinstance(item, str):
                        latest = self._check_checkpoint(item, tree, queue, latest)
                    else:
                        self._replay(item, tree.size, prev, state, tree, queue)
                        prev = item.hash
                if tree.size and (latest is None or latest.size != tree.size):
                    covered = 0 if latest is None else latest.size
                    raise CheckpointError(
                        "entry is not covered by any signed checkpoint", seq=covered
                    )
            except VerificationError as exc:
                failure = exc
            try:
                queue.drain()
            except VerificationError as exc:
                if failure is None or _position(exc) < _position(failure):
                    failure = exc
        finally:
            queue.close()
        if failure is not None:
            raise failure
        return LogSummary(tree.size, len(state.subjects), latest)

    def _replay(
        self,
        entry: Entry,
        expected: int,
        prev: bytes,
        state: LogState,
        tree: CompactRange,
        queue: _SignatureQueue,
    ) -> None:
        seq = entry.seq
        if seq != expected:
            if seq > expected:
                raise ChainError(f"entry {expected} is missing (next entry is {seq})", seq=expected)
            raise ChainError(f"entry {seq} is out of order or repeated", seq=expected)
        if entry.prev_hash != prev:
            raise ChainError("prev_hash does not match the previous entry's hash", seq=seq)
        parsed, public_key = self._admit(entry, state)
        if entry.subject_prev_hash != state.subject_head(parsed.subject):
            raise ChainError(
                f"subject_prev_hash does not match the previous entry of {parsed.subject}", seq=seq
            )
        self._check_hash(entry)
        state.advance(parsed.subject, entry.hash)
        tree.append(entry.leaf_hash)
        queue.add(
            (seq, public_key, entry.statement.message, entry.statement.signature), "statement"
        )

    @staticmethod
    def _admit(entry: Entry, state: LogState) -> tuple[ParsedStatement, bytes]:
        """Apply the log's rules to the entry's statement; return it and its signer's key."""
        try:
            parsed = entry.statement.parse()
            signer = state.admit(parsed, seq=entry.seq, received_micros=entry.received_micros)
        except KeyNotValidError as exc:
            raise KeyValidityError(exc.reason, seq=entry.seq) from exc
        except InvalidStatementError as exc:
            raise VerificationError(f"statement rejected: {exc}", seq=entry.seq) from exc
        return parsed, signer.public_key

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
        self, note: str, tree: CompactRange, queue: _SignatureQueue, latest: Checkpoint | None
    ) -> Checkpoint:
        """Check a checkpoint met after ``tree.size`` entries; queue its signature check."""
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
        signatures = [
            s
            for s in signed.signatures
            if s.name == self.log_key.name and s.key_id == self.log_key.key_id
        ]
        if not signatures:
            raise CheckpointError("carries no signature by the log key", **where)
        if checkpoint.root != tree.root():
            against = f" (inconsistent with checkpoint {latest.size})" if latest else ""
            raise CheckpointError(f"root does not match the entries{against}", **where)
        for sig in signatures:
            queue.add(
                (checkpoint.size, self.log_key.public_key, signed.text.encode(), sig.signature),
                "checkpoint",
            )
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
            parsed, public_key = self._admit(entry, state)
            if parsed.subject == subject:
                own += 1
                if entry.subject_prev_hash != state.subject_head(subject):
                    raise ChainError(
                        "subject_prev_hash does not match the previous entry of the subject",
                        seq=entry.seq,
                    )
            state.advance(parsed.subject, entry.hash)
            if (
                first_bad_signature(
                    [(entry.seq, public_key, entry.statement.message, entry.statement.signature)]
                )
                is not None
            ):
                raise SignatureError(
                    "statement signature does not verify under its key", seq=entry.seq
                )
        if own == 0:
            raise VerificationError(f"the bundle holds no entry of {subject}")
        return LogSummary(own, 1, checkpoint)


def _position(error: VerificationError) -> tuple[float, int]:
    """Order failures as the log is read: by seq, a checkpoint after the entry it ends on."""
    if error.seq is None:
        return (float("inf"), 0)
    return (error.seq, 1 if error.checkpoint_size is not None else 0)

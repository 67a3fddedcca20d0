"""Server-side verdicts for a batch's public page: is each entry signed, chained, sealed, and
is what the page shows what was signed? Plus the buyer checks (pre-harvest interval, quantity).

Only the trust roots are trusted: the log's public key and the authority keys. Everything else
is recomputed from the ledger's entries with the ledger's own primitives (entry_hash,
verify_inclusion, Checkpoint.verify_note, LogState): a household's keys come from replaying its
authority-signed ``key.register``/``key.revoke`` entries, never from the derived key tables, and
the app's mirror tables (batches, steps) are compared with the signed statements, never trusted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app.models import Batch, Step
from ledger import (
    KEY_REGISTER,
    KEY_REVOKE,
    Checkpoint,
    Entry,
    Ledger,
    LedgerError,
    LogReader,
    NoteVerifier,
    ParsedStatement,
    StoredCheckpoint,
)
from ledger.encoding import canonical_json
from ledger.entry import ZERO_HASH, entry_hash
from ledger.merkle import verify_inclusion
from ledger.rules import LogState

from .cache import WorkerCache, worker_cache

CORRECTION = "correct"
BATCH_CREATE = "batch.create"
SALE = "sale"  # a paid order, signed by the household (app.services.payments)
# The batch.create body fields that the page shows from the batches table.
BATCH_FIELDS = ("product", "variety", "plot", "unit", "lot", "gtin")
CACHE_SIZE = 512  # subjects whose checks a process keeps


@dataclass(frozen=True)
class EntryVerdict:
    """The checks of one ledger entry of the batch."""

    seq: int
    signed: bool = False  # signature valid under a household key valid at this seq
    chained: bool = False  # entry hash recomputes and the subject chain links through it
    included: bool = False  # in the latest signed checkpoint (inclusion proof verified)
    matches: bool = False  # what the page shows is what the statement says

    @property
    def ok(self) -> bool:
        return self.signed and self.chained and self.included and self.matches


@dataclass(frozen=True)
class Seal:
    """The latest checkpoint, if its note verifies under the log key."""

    valid: bool
    size: int | None = None
    created_at: datetime | None = None
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class PhiFlag:
    """A harvest before a spraying's pre-harvest interval had passed."""

    harvest: Step
    spraying: Step
    product: str
    safe_from: datetime


@dataclass
class BatchReport:
    seal: Seal
    entries: dict[int, EntryVerdict]
    phi_flags: list[PhiFlag] = field(default_factory=list)
    harvested: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)  # from sale entries that are signed, chained and sealed
    shown_seqs: tuple[int, ...] = ()

    def verdict(self, seq: int) -> EntryVerdict:
        """An entry the page shows but the ledger lacks fails every check."""
        return self.entries.get(seq) or EntryVerdict(seq)

    @property
    def ok(self) -> bool:
        return self.seal.valid and all(self.verdict(seq).ok for seq in self.shown_seqs)

    def flagged(self, step: Step) -> list[PhiFlag]:
        return [f for f in self.phi_flags if f.harvest.id == step.id]


@dataclass(frozen=True)
class TrustRoots:
    """The only keys a verdict trusts: the log key and the authority keys by statement key id."""

    log_key: NoteVerifier
    authorities: Mapping[str, NoteVerifier]

    @property
    def authority_vkeys(self) -> list[str]:
        return [authority.vkey() for authority in self.authorities.values()]


def trust_roots(ledger: Ledger) -> TrustRoots:
    """The roots the app was configured with (the log key and the authority keys)."""
    return TrustRoots(ledger.log_signer.verifier, ledger.authorities)


def verify_seal(stored: StoredCheckpoint | None, log_key: NoteVerifier) -> Seal:
    if stored is None:
        return Seal(valid=False)
    try:
        checkpoint = Checkpoint.verify_note(stored.note, log_key)
    except LedgerError:
        return Seal(valid=False, size=stored.size, created_at=stored.created_at)
    valid = checkpoint.size == stored.size and checkpoint.root == stored.root
    return Seal(valid, checkpoint.size, stored.created_at, checkpoint if valid else None)


def _hash_ok(entry: Entry) -> bool:
    return (
        entry_hash(
            seq=entry.seq,
            received_micros=entry.received_micros,
            prev_hash=entry.prev_hash,
            subject_prev_hash=entry.subject_prev_hash,
            statement_digest=entry.statement.digest,
            signature=entry.statement.signature,
        )
        == entry.hash
    )


def _included(reader: LogReader, entry: Entry, checkpoint: Checkpoint | None) -> bool:
    if checkpoint is None or entry.seq >= checkpoint.size:
        return False
    try:
        proof = reader.inclusion_proof(entry.seq, checkpoint.size)
        verify_inclusion(entry.seq, checkpoint.size, entry.leaf_hash, proof, checkpoint.root)
    except (LedgerError, ValueError):
        return False
    return True


def _parse(entry: Entry) -> ParsedStatement | None:
    try:
        return entry.statement.parse()
    except LedgerError:
        return None


def replay_keys(
    reader: LogReader,
    roots: TrustRoots,
    owner: str,
    owner_entries: Iterable[Entry],
    checkpoint: Checkpoint | None,
) -> LogState:
    """``owner``'s keys, replayed from its key entries with the log's own rules.

    A key entry counts only if its hash recomputes, it is proven included in the checkpoint,
    it is signed by an authority key and the rules admit it at its position; any other entry
    registers or revokes nothing. (Like a subject bundle, this cannot prove that no revocation
    is missing from the rows read; a whole-log verification can.)
    """
    state = LogState(roots.authorities)
    for entry in owner_entries:
        parsed = _parse(entry)
        if parsed is None or parsed.kind not in (KEY_REGISTER, KEY_REVOKE):
            continue
        authority = roots.authorities.get(parsed.key)
        if (
            parsed.subject != owner
            or authority is None
            or not _hash_ok(entry)
            or not _included(reader, entry, checkpoint)
            or not authority.verify(entry.statement.signature, entry.statement.message)
        ):
            continue
        try:
            state.admit(parsed, seq=entry.seq, received_micros=entry.received_micros)
        except LedgerError:
            continue
    return state


def _signed(entry: Entry, parsed: ParsedStatement, owner: str, keys: LogState) -> bool:
    """Signed by a key registered to ``owner`` before this entry and not revoked before it
    (``keys.keys``: registered keys only; an authority key is not the household's)."""
    record = keys.keys.get(parsed.key)
    if record is None or record.owner != owner or record.registered_seq is None:
        return False
    if not record.registered_seq < entry.seq:
        return False
    if record.revoked_seq is not None and record.revoked_seq <= entry.seq:
        return False
    verifier = NoteVerifier(name=owner, public_key=record.public_key)
    return verifier.verify(entry.statement.signature, entry.statement.message)


@dataclass(frozen=True)
class SubjectChecks:
    """The cryptographic checks of one subject's entries: a pure function of the ledger rows
    they were computed from, so they can be cached under a digest of those rows."""

    seal: Seal
    entries: dict[int, EntryVerdict]  # every check but ``matches``
    parsed: dict[int, ParsedStatement]


def check_subject(
    reader: LogReader,
    roots: TrustRoots,
    stored: StoredCheckpoint | None,
    subject: str,
    owner: str,
    entries: Sequence[Entry],
    owner_entries: Sequence[Entry],
) -> SubjectChecks:
    """Verdicts for ``entries`` (the subject's, in seq order), signed by keys of ``owner``."""
    seal = verify_seal(stored, roots.log_key)
    keys = replay_keys(reader, roots, owner, owner_entries, seal.checkpoint)
    verdicts: dict[int, EntryVerdict] = {}
    parsed_by_seq: dict[int, ParsedStatement] = {}
    previous = ZERO_HASH
    for entry in entries:
        chained = entry.subject_prev_hash == previous and _hash_ok(entry)
        previous = entry.hash
        parsed = _parse(entry)
        signed = False
        if parsed is not None and parsed.subject == subject:
            parsed_by_seq[entry.seq] = parsed
            signed = _signed(entry, parsed, owner, keys)
        verdicts[entry.seq] = EntryVerdict(
            entry.seq,
            signed=signed,
            chained=chained,
            included=_included(reader, entry, seal.checkpoint),
        )
    return SubjectChecks(seal, verdicts, parsed_by_seq)


def rows_digest(
    roots: TrustRoots,
    stored: StoredCheckpoint | None,
    subject: str,
    owner: str,
    entries: Sequence[Entry],
    owner_entries: Sequence[Entry],
) -> bytes:
    """A digest of everything :func:`check_subject` reads besides the Merkle nodes (whose
    proofs only ever confirm a fact about an entry hash and a signed root)."""
    digest = hashlib.sha256()

    def put(*parts: bytes | str | int) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode()
            digest.update(len(data).to_bytes(8, "big") + data)

    put(roots.log_key.vkey(), *sorted(roots.authorities), subject, owner)
    if stored is not None:
        put(stored.size, stored.root, stored.note, stored.created_micros)
    for rows in (entries, owner_entries):
        put(len(rows))
        for e in rows:
            put(e.seq, e.received_micros, e.prev_hash, e.subject_prev_hash)
            put(e.statement.data, e.statement.signature, e.hash)
    return digest.digest()


def checks_cache() -> WorkerCache[bytes, SubjectChecks]:
    """Recent :class:`SubjectChecks` by :func:`rows_digest`: keyed by the rows themselves rather
    than only the tree size, so an edit made behind the ledger's back is a miss that recomputes,
    never a stale verdict. One per process: each gunicorn worker has its own."""
    return worker_cache("storefront.checks", CACHE_SIZE)


def body_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of the RFC 8785 bytes of a step's shown body: the page carries it so that the
    buyer's device can compare it with the signed statement's body."""
    return hashlib.sha256(canonical_json(dict(body))).hexdigest()


def _batch_matches(batch: Batch, parsed: ParsedStatement) -> bool:
    body = parsed.body
    return (
        parsed.kind == BATCH_CREATE
        and all(body.get(name) == getattr(batch, name) for name in BATCH_FIELDS)
        and body.get("start_date") == batch.start_date.isoformat()
        and body.get("household") == batch.household.code
    )


def _step_matches(step: Step, entry_hash: bytes, parsed: ParsedStatement) -> bool:
    return (
        parsed.kind == f"step.{step.kind}"
        and parsed.body == step.data
        and parsed.time == step.occurred_at
        and step.entry_hash == entry_hash
        and list(parsed.attachments) == [p.photo_sha256 for p in step.photos]
    )


def verify_entries(
    reader: LogReader,
    roots: TrustRoots,
    batch: Batch,
    steps: Sequence[Step],
    cache: WorkerCache[bytes, SubjectChecks] | None = None,
) -> tuple[Seal, dict[int, EntryVerdict], Mapping[int, ParsedStatement]]:
    """The seal, a verdict for every ledger entry of the batch's subject in seq order, and
    those entries' statements that parse."""
    owner = batch.household.subject
    stored = reader.latest_checkpoint()
    entries = reader.subject_entries(batch.subject)
    owner_entries = reader.subject_entries(owner)

    def compute() -> SubjectChecks:
        return check_subject(reader, roots, stored, batch.subject, owner, entries, owner_entries)

    if cache is None:
        checks = compute()
    else:
        key = rows_digest(roots, stored, batch.subject, owner, entries, owner_entries)
        checks = cache.get_or_make(key, compute)
    hashes = {entry.seq: entry.hash for entry in entries}
    by_seq = {step.seq: step for step in steps}
    verdicts = {}
    for seq, verdict in checks.entries.items():
        parsed, step = checks.parsed.get(seq), by_seq.get(seq)
        matches = parsed is not None and (
            _batch_matches(batch, parsed)
            if seq == batch.seq
            else step is not None and _step_matches(step, hashes[seq], parsed)
        )
        verdicts[seq] = replace(verdict, matches=matches)
    return checks.seal, verdicts, checks.parsed


# -- buyer checks ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Effective:
    """A step's values after its latest correction (a correction repeats every field)."""

    step: Step
    when: datetime
    values: dict[str, Any]


def effective_steps(steps: Iterable[Step]) -> list[Effective]:
    ordered = sorted(steps, key=lambda s: s.seq)
    current: dict[int, Effective] = {}
    for step in ordered:
        if step.kind != CORRECTION:
            current[step.id] = Effective(step, step.occurred_at, dict(step.data))
            continue
        replacement = step.data.get("replacement")
        if step.corrects_id in current and isinstance(replacement, dict):
            original = current[step.corrects_id]
            try:
                when = datetime.fromisoformat(replacement["occurred_at"])
            except (KeyError, TypeError, ValueError):
                when = original.when
            current[step.corrects_id] = Effective(original.step, when, dict(replacement))
    return list(current.values())


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def phi_flags(effective: Sequence[Effective]) -> list[PhiFlag]:
    """Each harvest made before the pre-harvest interval of an earlier spraying had passed."""
    flags = []
    sprayings = [e for e in effective if e.step.kind == "spraying"]
    for harvest in (e for e in effective if e.step.kind == "harvest"):
        for spraying in sprayings:
            try:
                days = int(spraying.values.get("phi_days", 0))
            except (TypeError, ValueError):
                continue
            safe_from = spraying.when + timedelta(days=days)
            if spraying.when <= harvest.when < safe_from:
                product = str(spraying.values.get("product", ""))
                flags.append(PhiFlag(harvest.step, spraying.step, product, safe_from))
    return flags


def harvested(effective: Sequence[Effective]) -> Decimal:
    total = Decimal(0)
    for item in effective:
        if item.step.kind == "harvest":
            total += _decimal(item.values.get("quantity")) or Decimal(0)
    return total


def sold(
    batch: Batch, entries: dict[int, EntryVerdict], parsed: Mapping[int, ParsedStatement]
) -> Decimal:
    """Units sold: the quantities of the batch's ``sale`` statements whose entries verify."""
    total = Decimal(0)
    for seq, statement in parsed.items():
        verdict = entries.get(seq)
        if verdict is None or not (verdict.signed and verdict.chained and verdict.included):
            continue
        if statement.kind == SALE and statement.body.get("batch") == batch.code:
            total += _decimal(statement.body.get("quantity")) or Decimal(0)
    return total


def verify_batch(
    reader: LogReader,
    roots: TrustRoots,
    batch: Batch,
    steps: Sequence[Step],
    cache: WorkerCache[bytes, SubjectChecks] | None = None,
) -> BatchReport:
    """Verdicts for the batch's entries (``steps``: all its steps, corrections included) and
    the buyer checks, trusting only the ledger and the trust roots."""
    seal, entries, parsed = verify_entries(reader, roots, batch, steps, cache)
    effective = effective_steps(steps)
    return BatchReport(
        seal=seal,
        entries=entries,
        phi_flags=phi_flags(effective),
        harvested=harvested(effective),
        sold=sold(batch, entries, parsed),
        shown_seqs=(batch.seq, *(s.seq for s in steps)),
    )

"""Server-side verdicts for a batch's public page: is each entry signed, chained, sealed, and
is what the page shows what was signed? Plus the buyer checks (pre-harvest interval, quantity).

Everything here is recomputed from the ledger with the ledger's own primitives (entry_hash,
verify_inclusion, Checkpoint.verify_note, NoteVerifier.verify); only the log's public key is
trusted. The app's mirror tables (batches, steps) are compared with the signed statements, never
trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from app.models import Batch, Step
from ledger import (
    Checkpoint,
    Entry,
    KeyRecord,
    LedgerError,
    LogReader,
    NoteVerifier,
    ParsedStatement,
    StoredCheckpoint,
)
from ledger.entry import ZERO_HASH, entry_hash
from ledger.merkle import verify_inclusion

CORRECTION = "correct"
BATCH_CREATE = "batch.create"
SALE = "sale"  # a paid order, signed by the household (app.services.payments)
# The batch.create body fields that the page shows from the batches table.
BATCH_FIELDS = ("product", "variety", "plot", "unit", "lot", "gtin")


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


def verify_seal(reader: LogReader, log_key: NoteVerifier) -> tuple[Seal, StoredCheckpoint | None]:
    stored = reader.latest_checkpoint()
    if stored is None:
        return Seal(valid=False), None
    try:
        checkpoint = Checkpoint.verify_note(stored.note, log_key)
    except LedgerError:
        return Seal(valid=False, size=stored.size, created_at=stored.created_at), stored
    valid = checkpoint.size == stored.size and checkpoint.root == stored.root
    return Seal(valid, checkpoint.size, stored.created_at, checkpoint if valid else None), stored


class _Keys:
    """Key records read once per page."""

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self.cache: dict[str, KeyRecord | None] = {}

    def get(self, key_id: str) -> KeyRecord | None:
        if key_id not in self.cache:
            self.cache[key_id] = self.reader.key(key_id)
        return self.cache[key_id]


def _signed(entry: Entry, parsed: ParsedStatement, owner: str, keys: _Keys) -> bool:
    record = keys.get(parsed.key)
    if record is None or record.owner != owner or record.registered_seq is None:
        return False
    if not record.registered_seq < entry.seq:
        return False
    if record.revoked_seq is not None and record.revoked_seq <= entry.seq:
        return False
    verifier = NoteVerifier(name=owner, public_key=record.public_key)
    return verifier.verify(entry.statement.signature, entry.statement.message)


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


def _batch_matches(batch: Batch, parsed: ParsedStatement) -> bool:
    body = parsed.body
    return (
        parsed.kind == BATCH_CREATE
        and all(body.get(name) == getattr(batch, name) for name in BATCH_FIELDS)
        and body.get("start_date") == batch.start_date.isoformat()
        and body.get("household") == batch.household.code
    )


def _step_matches(step: Step, entry: Entry, parsed: ParsedStatement) -> bool:
    return (
        parsed.kind == f"step.{step.kind}"
        and parsed.body == step.data
        and parsed.time == step.occurred_at
        and step.entry_hash == entry.hash
        and list(parsed.attachments) == [p.photo_sha256 for p in step.photos]
    )


def verify_entries(
    reader: LogReader,
    checkpoint: Checkpoint | None,
    batch: Batch,
    steps: Sequence[Step],
) -> dict[int, EntryVerdict]:
    """A verdict for every ledger entry of the batch's subject, in seq order."""
    owner = batch.household.subject
    keys = _Keys(reader)
    by_seq = {step.seq: step for step in steps}
    verdicts: dict[int, EntryVerdict] = {}
    previous = ZERO_HASH
    for entry in reader.subject_entries(batch.subject):
        chained = entry.subject_prev_hash == previous and _hash_ok(entry)
        previous = entry.hash
        try:
            parsed = entry.statement.parse()
        except LedgerError:
            parsed = None
        signed = matches = False
        if parsed is not None and parsed.subject == batch.subject:
            signed = _signed(entry, parsed, owner, keys)
            step = by_seq.get(entry.seq)
            if entry.seq == batch.seq:
                matches = _batch_matches(batch, parsed)
            elif step is not None:
                matches = _step_matches(step, entry, parsed)
        verdicts[entry.seq] = EntryVerdict(
            entry.seq,
            signed=signed,
            chained=chained,
            included=_included(reader, entry, checkpoint),
            matches=matches,
        )
    return verdicts


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


def sold(reader: LogReader, batch: Batch, entries: dict[int, EntryVerdict]) -> Decimal:
    """Units sold: the quantities of the batch's ``sale`` statements whose entries verify."""
    total = Decimal(0)
    for entry in reader.subject_entries(batch.subject):
        verdict = entries.get(entry.seq)
        if verdict is None or not (verdict.signed and verdict.chained and verdict.included):
            continue
        try:
            parsed = entry.statement.parse()
        except LedgerError:
            continue
        if parsed.kind == SALE and parsed.body.get("batch") == batch.code:
            total += _decimal(parsed.body.get("quantity")) or Decimal(0)
    return total


def verify_batch(
    reader: LogReader, log_key: NoteVerifier, batch: Batch, steps: Sequence[Step]
) -> BatchReport:
    """Verdicts for the batch's entries (``steps``: all its steps, corrections included) and
    the buyer checks, trusting only the ledger and the log key."""
    seal, _ = verify_seal(reader, log_key)
    entries = verify_entries(reader, seal.checkpoint, batch, steps)
    effective = effective_steps(steps)
    return BatchReport(
        seal=seal,
        entries=entries,
        phi_flags=phi_flags(effective),
        harvested=harvested(effective),
        sold=sold(reader, batch, entries),
        shown_seqs=(batch.seq, *(s.seq for s in steps)),
    )

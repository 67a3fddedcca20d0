"""Export bundles: one JSON Lines file holding a whole log, or one subject with proofs.

Line 1 is the header; then one object per line (docs/ledger-format.md, "Export bundle"):

- ``{"format": "goc-ledger-bundle/v1", "scope": "log", "origin": ...}``, then entry lines in seq
  order, each checkpoint line right after the entry that completes its tree size.
- ``{"format": "goc-ledger-bundle/v1", "scope": "subject", "origin": ..., "subject": ...}``, then
  one checkpoint line, then entry lines in seq order, each with ``"proof"``: its inclusion proof
  against that checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from .encoding import b64decode, b64encode, hex32
from .entry import Entry
from .errors import LedgerError, MalformedError
from .statement import SignedStatement
from .store import LogReader
from .verify import ProvenEntry

FORMAT = "goc-ledger-bundle/v1"


def entry_line(entry: Entry, proof: Iterable[bytes] | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "entry",
        "seq": entry.seq,
        "received": entry.received_micros,
        "prev": entry.prev_hash.hex(),
        "subject_prev": entry.subject_prev_hash.hex(),
        "statement": b64encode(entry.statement.data),
        "signature": b64encode(entry.statement.signature),
        "hash": entry.hash.hex(),
    }
    if proof is not None:
        line["proof"] = [h.hex() for h in proof]
    return line


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def iter_log_bundle(reader: LogReader, origin: str, *, upto: int | None = None) -> Iterator[str]:
    """The whole-log bundle, line by line, reading the log in bounded pages.

    ``upto`` cuts it at that tree size (see :meth:`LogReader.iter_log`).
    """
    yield _dump({"format": FORMAT, "scope": "log", "origin": origin})
    for item in reader.iter_log(upto=upto):
        if isinstance(item, str):
            yield _dump({"type": "checkpoint", "note": item})
        else:
            yield _dump(entry_line(item))


def iter_subject_bundle(reader: LogReader, origin: str, subject: str) -> Iterator[str]:
    """A subject's entries and its signers' key entries, proven against the latest checkpoint."""
    checkpoint = reader.latest_checkpoint()
    if checkpoint is None:
        raise LedgerError("the log has no checkpoint yet")
    own = reader.subject_entries(subject, upto=checkpoint.size)
    if not own:
        raise LookupError(f"no entries for subject {subject!r}")
    key_ids = {e.statement.parse().key for e in own}
    owners = {k.owner for k in (reader.key(i) for i in key_ids) if k is not None and k.owner}
    key_entries = [
        e
        for owner in sorted(owners)
        for e in reader.subject_entries(owner, upto=checkpoint.size)
        if e.statement.parse().kind in ("key.register", "key.revoke")
    ]
    entries = sorted({e.seq: e for e in [*own, *key_entries]}.values(), key=lambda e: e.seq)
    yield _dump({"format": FORMAT, "scope": "subject", "origin": origin, "subject": subject})
    yield _dump({"type": "checkpoint", "note": checkpoint.note})
    for entry in entries:
        yield _dump(entry_line(entry, reader.inclusion_proof(entry.seq, checkpoint.size)))


@dataclass(frozen=True)
class BundleHeader:
    scope: str
    origin: str
    subject: str | None


def _entry_from_line(obj: dict[str, Any]) -> Entry:
    try:
        seq, received = obj["seq"], obj["received"]
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (seq, received)
        ):
            raise MalformedError("seq and received must be non-negative integers")
        statement = SignedStatement(
            b64decode(obj["statement"], what="statement"),
            b64decode(obj["signature"], what="signature", length=64),
        )
        return Entry(
            seq,
            received,
            hex32(obj["prev"], what="prev"),
            hex32(obj["subject_prev"], what="subject_prev"),
            statement,
            hex32(obj["hash"], what="hash"),
        )
    except (KeyError, TypeError) as exc:
        raise MalformedError(f"entry line is missing or mistypes a field: {exc}") from exc


class BundleReader:
    """Reads a bundle lazily from a text stream; raises :class:`MalformedError` on bad lines."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.line_no = 0
        header = self._next()
        if header is None or header.get("format") != FORMAT:
            raise MalformedError(f"not a {FORMAT} bundle")
        scope = header.get("scope")
        if scope not in ("log", "subject") or not isinstance(header.get("origin"), str):
            raise MalformedError("bundle header needs scope 'log' or 'subject' and an origin")
        subject = header.get("subject")
        if scope == "subject" and not isinstance(subject, str):
            raise MalformedError("a subject bundle names its subject")
        self.header = BundleHeader(scope, header["origin"], subject)

    def _next(self) -> dict[str, Any] | None:
        for raw in self.stream:
            self.line_no += 1
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise MalformedError(f"bundle line {self.line_no}: not JSON") from exc
            if not isinstance(obj, dict):
                raise MalformedError(f"bundle line {self.line_no}: not a JSON object")
            return obj
        return None

    def items(self) -> Iterator[Entry | str | ProvenEntry]:
        """Entries (proven ones in a subject bundle) and checkpoint notes, in file order."""
        while (obj := self._next()) is not None:
            kind = obj.get("type")
            if kind == "checkpoint" and isinstance(obj.get("note"), str):
                yield obj["note"]
            elif kind == "entry":
                try:
                    entry = _entry_from_line(obj)
                    proof = obj.get("proof")
                    if "proof" in obj and not isinstance(proof, list):
                        raise MalformedError("proof must be a list")
                    proven = None if proof is None else tuple(hex32(h, what="proof") for h in proof)
                except MalformedError as exc:
                    raise MalformedError(f"bundle line {self.line_no}: {exc}") from exc
                yield entry if proven is None else ProvenEntry(entry, proven)
            else:
                raise MalformedError(f"bundle line {self.line_no}: unknown line type {kind!r}")

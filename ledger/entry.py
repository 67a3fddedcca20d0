"""Log entries: a signed statement at its position in the hash chain."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime

from .encoding import micros_to_datetime
from .merkle import leaf_hash
from .statement import SignedStatement

ENTRY_DOMAIN = b"goc/entry/v1\n"
ZERO_HASH = bytes(32)


def entry_hash(
    *,
    seq: int,
    received_micros: int,
    prev_hash: bytes,
    subject_prev_hash: bytes,
    statement_digest: bytes,
    signature: bytes,
) -> bytes:
    """SHA-256 over the entry's fixed-width binary header (docs/ledger-format.md, "Entry hash")."""
    return hashlib.sha256(
        ENTRY_DOMAIN
        + struct.pack(">QQ", seq, received_micros)
        + prev_hash
        + subject_prev_hash
        + statement_digest
        + signature
    ).digest()


@dataclass(frozen=True)
class Entry:
    """One log entry. ``prev_hash``/``subject_prev_hash`` are 32 zero bytes when there is none."""

    seq: int
    received_micros: int
    prev_hash: bytes
    subject_prev_hash: bytes
    statement: SignedStatement
    hash: bytes

    @classmethod
    def build(
        cls,
        *,
        seq: int,
        received_micros: int,
        prev_hash: bytes,
        subject_prev_hash: bytes,
        statement: SignedStatement,
    ) -> Entry:
        digest = entry_hash(
            seq=seq,
            received_micros=received_micros,
            prev_hash=prev_hash,
            subject_prev_hash=subject_prev_hash,
            statement_digest=statement.digest,
            signature=statement.signature,
        )
        return cls(seq, received_micros, prev_hash, subject_prev_hash, statement, digest)

    @property
    def received_at(self) -> datetime:
        return micros_to_datetime(self.received_micros)

    @property
    def leaf_hash(self) -> bytes:
        """The RFC 6962 leaf hash; the Merkle leaf input is the 32-byte entry hash."""
        return leaf_hash(self.hash)

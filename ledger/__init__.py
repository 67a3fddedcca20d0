"""Gốc's ledger: an append-only, hash-chained, Ed25519-signed log sealed by C2SP checkpoints.

A pure library (SQLAlchemy, cryptography, rfc8785). Typical use::

    from ledger import Ledger, LogVerifier, NoteSigner, Statement, open_engine

    log_key = NoteSigner.generate("goc.example/hamlet")
    coop = NoteSigner.generate("goc.example/authority")
    ledger = Ledger(open_engine(url), log_signer=log_key, authorities=[coop.verifier])
    entry = ledger.append(Statement(kind="key.register", ...).sign(coop))

    verifier = LogVerifier(log_key=log_key.verifier, authority_keys=[coop.verifier])
    print(verifier.verify_log(ledger.iter_log()).line())   # raises VerificationError

The byte-level format is specified in docs/ledger-format.md.
"""

from .bundle import BundleReader, iter_log_bundle, iter_subject_bundle
from .checkpoint import Checkpoint, SignedNote
from .entry import Entry
from .errors import (
    ChainError,
    CheckpointError,
    ConflictError,
    InvalidStatementError,
    KeyValidityError,
    LedgerError,
    MalformedError,
    ProofError,
    SignatureError,
    VerificationError,
)
from .keys import NoteSigner, NoteVerifier, statement_key_id
from .rules import KeyNotValidError, KeyRecord
from .schema import configure_engine, metadata, open_engine
from .statement import KEY_REGISTER, KEY_REVOKE, ParsedStatement, SignedStatement, Statement
from .store import Ledger, LogReader, StoredCheckpoint
from .verify import LogSummary, LogVerifier, ProvenEntry

__all__ = [
    "KEY_REGISTER",
    "KEY_REVOKE",
    "BundleReader",
    "ChainError",
    "Checkpoint",
    "CheckpointError",
    "ConflictError",
    "Entry",
    "InvalidStatementError",
    "KeyNotValidError",
    "KeyRecord",
    "KeyValidityError",
    "Ledger",
    "LedgerError",
    "LogReader",
    "LogSummary",
    "LogVerifier",
    "MalformedError",
    "NoteSigner",
    "NoteVerifier",
    "ParsedStatement",
    "ProofError",
    "ProvenEntry",
    "SignatureError",
    "SignedNote",
    "SignedStatement",
    "Statement",
    "StoredCheckpoint",
    "VerificationError",
    "configure_engine",
    "iter_log_bundle",
    "iter_subject_bundle",
    "metadata",
    "open_engine",
    "statement_key_id",
]

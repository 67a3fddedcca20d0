"""The ledger's typed errors. Nothing here renders or exits: callers decide how to show them."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises."""


class InvalidStatementError(LedgerError):
    """A statement is malformed, or may not be appended (unknown or revoked key, foreign subject).

    ``field`` names the offending statement field when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class MalformedError(LedgerError):
    """A note, checkpoint, key string, proof or bundle could not be parsed."""


class VerificationError(LedgerError):
    """Verification failed. ``seq`` names the first bad entry when the failure is about one."""

    def __init__(
        self, message: str, *, seq: int | None = None, checkpoint_size: int | None = None
    ) -> None:
        where = []
        if seq is not None:
            where.append(f"seq {seq}")
        if checkpoint_size is not None:
            where.append(f"checkpoint size {checkpoint_size}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.seq = seq
        self.checkpoint_size = checkpoint_size
        self.reason = message


class SignatureError(VerificationError):
    """A statement or checkpoint signature does not verify."""


class ChainError(VerificationError):
    """The hash chain, a subject chain, the sequence numbering or a stored hash is broken."""


class KeyValidityError(VerificationError):
    """A statement was signed by a key that was unknown, revoked, or not its subject's owner's."""


class CheckpointError(VerificationError):
    """A checkpoint is forged, does not match the entries, or contradicts another checkpoint."""


class ProofError(VerificationError):
    """An inclusion or consistency proof does not verify."""


class ConflictError(LedgerError):
    """The log refused an operation that would make it inconsistent (never expected in use)."""

"""The rules every statement must pass at its position in the log, shared by append and verify.

- A statement names its signing key; the key is an authority key (a trust root), or a key that a
  ``key.register`` entry earlier in the log registered and no earlier ``key.revoke`` revoked.
- ``key.register`` and ``key.revoke`` are signed by an authority. The registered key belongs to
  the register statement's subject (its *owner*, e.g. ``household:H001``).
- A subject's owner is fixed by its first entry: the subject itself for ``key.register``,
  otherwise the owner of the key that signed it (none for an authority). Later statements on the
  subject are signed by an authority or by a key of that same owner.
- A statement's time is not after the time the log received it (plus a small clock skew).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from .encoding import b64decode
from .entry import ZERO_HASH
from .errors import InvalidStatementError, LedgerError
from .keys import NoteVerifier, statement_key_id
from .statement import KEY_REGISTER, KEY_REVOKE

MAX_CLOCK_SKEW = timedelta(minutes=5)
_MAX_CLOCK_SKEW_MICROS = MAX_CLOCK_SKEW // timedelta(microseconds=1)


class RuledStatement(Protocol):
    """What the rules read of a statement: a :class:`~ledger.statement.ParsedStatement`, or the
    verifier's compact copy of one (whose body it keeps only for ``key.*`` kinds)."""

    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def time_micros(self) -> int: ...
    @property
    def body(self) -> Mapping[str, Any]: ...


class KeyNotValidError(InvalidStatementError):
    """The signing key may not sign this statement here (unknown, revoked, foreign subject)."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    owner: str | None
    public_key: bytes
    registered_seq: int | None
    revoked_seq: int | None = None
    authority: bool = False


@dataclass
class SubjectState:
    owner: str | None
    head: bytes


KeyLoader = Callable[[str], KeyRecord | None]
SubjectLoader = Callable[[str], SubjectState | None]


class LogState:
    """Keys and subjects as of some position in the log, extended entry by entry.

    The loaders fetch state not seen yet (from the database when appending); the verifier,
    which replays the whole log, has none.
    """

    def __init__(
        self,
        authorities: Mapping[str, NoteVerifier],
        *,
        load_key: KeyLoader | None = None,
        load_subject: SubjectLoader | None = None,
    ) -> None:
        self.authorities = authorities
        self.keys: dict[str, KeyRecord] = {}
        self.subjects: dict[str, SubjectState] = {}
        self._load_key = load_key
        self._load_subject = load_subject
        self.new_keys: list[KeyRecord] = []
        self.new_revocations: list[KeyRecord] = []
        self.new_subjects: list[tuple[str, str | None, int]] = []

    def key(self, key_id: str) -> KeyRecord | None:
        # Known keys first: they sign nearly every statement (an authority's id is never among
        # them, as registering it is refused).
        known = self.keys.get(key_id)
        if known is not None:
            return known
        authority = self.authorities.get(key_id)
        if authority is not None:
            return KeyRecord(key_id, None, authority.public_key, None, authority=True)
        if self._load_key is not None:
            loaded = self._load_key(key_id)
            if loaded is not None:
                self.keys[key_id] = loaded
            return loaded
        return None

    def subject(self, subject: str) -> SubjectState | None:
        known = self.subjects.get(subject)
        if known is None and self._load_subject is not None:
            known = self._load_subject(subject)
            if known is not None:
                self.subjects[subject] = known
        return known

    def subject_head(self, subject: str) -> bytes:
        state = self.subject(subject)
        return ZERO_HASH if state is None else state.head

    def admit(self, parsed: RuledStatement, *, seq: int, received_micros: int) -> KeyRecord:
        """Apply the rules for ``parsed`` at ``seq``; return the signing key's record.

        Raises :class:`KeyNotValidError` or :class:`InvalidStatementError`; the caller still
        has to check the signature against the returned key.
        """
        signer = self.key(parsed.key)
        if signer is None:
            raise KeyNotValidError("signing key is not registered in the ledger", field="key")
        if signer.revoked_seq is not None and signer.revoked_seq < seq:
            raise KeyNotValidError(
                f"signing key was revoked at seq {signer.revoked_seq}", field="key"
            )
        if parsed.time_micros > received_micros + _MAX_CLOCK_SKEW_MICROS:
            raise InvalidStatementError("is after the time the log received it", field="time")
        if parsed.kind in (KEY_REGISTER, KEY_REVOKE) and not signer.authority:
            raise KeyNotValidError(f"{parsed.kind} must be signed by an authority key", field="key")
        if parsed.kind == KEY_REGISTER:
            self._register(parsed, seq)
        elif parsed.kind == KEY_REVOKE:
            self._revoke(parsed, seq)
        state = self.subject(parsed.subject)
        if state is None:
            owner = parsed.subject if parsed.kind == KEY_REGISTER else signer.owner
            self.subjects[parsed.subject] = SubjectState(owner, ZERO_HASH)
            self.new_subjects.append((parsed.subject, owner, seq))
        elif not signer.authority and state.owner != signer.owner:
            raise KeyNotValidError(
                f"subject belongs to {state.owner or 'the authority'}, not to {signer.owner}",
                field="subject",
            )
        return signer

    def advance(self, subject: str, entry_hash: bytes) -> None:
        """Record ``entry_hash`` as the newest entry of ``subject``."""
        self.subjects[subject].head = entry_hash

    def fork(self) -> LogState:
        """A state that starts as this one and changes only itself, until :meth:`adopt`."""
        return LogState(
            self.authorities,
            load_key=self.key,
            load_subject=lambda subject: (
                None if (known := self.subject(subject)) is None else replace(known)
            ),
        )

    def adopt(self, fork: LogState) -> None:
        """Take over what ``fork`` (made by :meth:`fork`) read and changed."""
        self.keys.update(fork.keys)
        self.subjects.update(fork.subjects)
        self.new_keys.extend(fork.new_keys)
        self.new_revocations.extend(fork.new_revocations)
        self.new_subjects.extend(fork.new_subjects)

    def _register(self, parsed: RuledStatement, seq: int) -> None:
        encoded = parsed.body.get("public_key")
        if not isinstance(encoded, str):
            raise InvalidStatementError(
                "must be the base64 Ed25519 public key", field="body.public_key"
            )
        try:
            public_key = b64decode(encoded, what="public key", length=32)
        except LedgerError as exc:
            raise InvalidStatementError(str(exc), field="body.public_key") from exc
        key_id = statement_key_id(public_key)
        if self.key(key_id) is not None:
            raise InvalidStatementError("key is already registered", field="body.public_key")
        state = self.subject(parsed.subject)
        if state is not None and state.owner != parsed.subject:
            raise KeyNotValidError("subject is owned by another owner", field="subject")
        record = KeyRecord(key_id, parsed.subject, public_key, seq)
        self.keys[key_id] = record
        self.new_keys.append(record)

    def _revoke(self, parsed: RuledStatement, seq: int) -> None:
        key_id = parsed.body.get("key")
        target = self.key(key_id) if isinstance(key_id, str) else None
        if target is None or target.authority:
            raise InvalidStatementError(
                "must name a registered, non-authority key", field="body.key"
            )
        if target.revoked_seq is not None:
            raise InvalidStatementError("key is already revoked", field="body.key")
        if target.owner != parsed.subject:
            raise KeyNotValidError("the key does not belong to this subject", field="subject")
        revoked = replace(target, revoked_seq=seq)
        self.keys[target.key_id] = revoked
        self.new_revocations.append(revoked)

"""Statements: what an actor attests, canonically encoded (RFC 8785) and signed with Ed25519."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .encoding import (
    MAX_SAFE_INTEGER,
    canonical_json,
    canonical_object,
    format_time,
    micros_to_datetime,
    nfc,
    parse_time_micros,
)
from .errors import InvalidStatementError
from .keys import NoteSigner

STATEMENT_DOMAIN = b"goc/statement/v1\n"
FORMAT_VERSION = 1
MAX_STATEMENT_BYTES = 64 * 1024
# \Z, not $: in Python "$" also matches before a trailing newline.
KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")
HEX64_RE = re.compile(r"^[0-9a-f]{64}\Z")
# A C0 control, or whitespace other than the space (\s is what str.isspace() calls whitespace).
SUBJECT_FORBIDDEN_RE = re.compile(r"[\x00-\x1f]|[^\S ]")
FIELDS = frozenset({"v", "kind", "subject", "key", "time", "body", "attachments"})

KEY_REGISTER = "key.register"
KEY_REVOKE = "key.revoke"


def _json_number_int(text: str) -> int | float:
    """An integer literal outside +-(2**53 - 1) is an IEEE-754 double, as RFC 8785 reads it."""
    value = int(text)
    return value if abs(value) <= MAX_SAFE_INTEGER else float(text)


def _duplicate_free(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidStatementError("duplicate property", field=key)
        result[key] = value
    return result


# A log names few kinds, keys and subjects many times over, so the verifier's checks of them
# are remembered (each a pure function of a string).
@functools.lru_cache(maxsize=1024)
def _is_kind(kind: str) -> bool:
    return len(kind) <= 64 and KIND_RE.match(kind) is not None


@functools.lru_cache(maxsize=4096)
def _is_key_id(key: str) -> bool:
    return HEX64_RE.match(key) is not None


@functools.lru_cache(maxsize=4096)
def _subject_problem(subject: str) -> str | None:
    if not 1 <= len(subject) <= 128:
        return "must be a string of 1 to 128 characters"
    if SUBJECT_FORBIDDEN_RE.search(subject):
        return "must not contain control characters"
    return None


def _check_subject(subject: object) -> str:
    if not isinstance(subject, str):
        raise InvalidStatementError("must be a string of 1 to 128 characters", field="subject")
    problem = _subject_problem(subject)
    if problem is not None:
        raise InvalidStatementError(problem, field="subject")
    return subject


@dataclass(frozen=True)
class Statement:
    """An unsigned statement. ``body`` is any JSON object; strings are normalised to NFC."""

    kind: str
    subject: str
    key: str
    time: datetime
    body: dict[str, Any] = field(default_factory=dict)
    attachments: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": self.kind,
            "subject": nfc(self.subject),
            "key": self.key,
            "time": format_time(self.time),
            "body": nfc(self.body),
            "attachments": list(self.attachments),
        }

    def canonical(self) -> bytes:
        """The statement's exact signed bytes; raises :class:`InvalidStatementError` if invalid."""
        try:
            data = canonical_json(self.to_json())
        except (ValueError, TypeError) as exc:
            raise InvalidStatementError(
                f"not representable as I-JSON ({exc})", field="body"
            ) from exc
        ParsedStatement.parse(data)
        return data

    def sign(self, signer: NoteSigner) -> SignedStatement:
        if signer.key_id != self.key:
            raise InvalidStatementError("does not name the signing key", field="key")
        data = self.canonical()
        return SignedStatement(data, signer.sign(STATEMENT_DOMAIN + data))


def parse_fields(data: bytes) -> tuple[str, str, str, int, dict[str, Any], list[str]]:
    """What :meth:`ParsedStatement.parse` checks and returns, as a plain tuple (the verifier's
    workers take it so, quicker than the dataclass), the time in microseconds since the Unix
    epoch; raises :class:`InvalidStatementError`."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise InvalidStatementError(f"statement is over {MAX_STATEMENT_BYTES} bytes")
    # Nearly every statement is shown canonical by the fast path; the general one decides
    # the rest, and names what is wrong with them.
    obj: Any = canonical_object(data)
    canonical = obj is not None
    if not canonical:
        try:
            obj = json.loads(data, object_pairs_hook=_duplicate_free, parse_int=_json_number_int)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # Recursion: deep nesting
            if isinstance(exc, InvalidStatementError):
                raise
            raise InvalidStatementError(f"not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise InvalidStatementError("statement must be a JSON object")
    if obj.keys() != FIELDS:
        missing = FIELDS - obj.keys()
        if missing:
            raise InvalidStatementError("is required", field=sorted(missing)[0])
        extra = obj.keys() - FIELDS
        raise InvalidStatementError("is not a statement field", field=sorted(extra)[0])
    if obj["v"] != FORMAT_VERSION or isinstance(obj["v"], bool):
        raise InvalidStatementError(f"unsupported version, expected {FORMAT_VERSION}", field="v")
    kind = obj["kind"]
    if not isinstance(kind, str) or not _is_kind(kind):
        raise InvalidStatementError("must be dotted lowercase words", field="kind")
    subject = _check_subject(obj["subject"])
    key = obj["key"]
    if not isinstance(key, str) or not _is_key_id(key):
        raise InvalidStatementError("must be a 64-hex-digit key id", field="key")
    if not isinstance(obj["time"], str):
        raise InvalidStatementError("must be a string", field="time")
    try:
        time_micros = parse_time_micros(obj["time"])
    except ValueError as exc:
        raise InvalidStatementError(str(exc), field="time") from exc
    body = obj["body"]
    if not isinstance(body, dict):
        raise InvalidStatementError("must be a JSON object", field="body")
    attachments = obj["attachments"]
    if not isinstance(attachments, list) or (
        attachments and not all(isinstance(a, str) and HEX64_RE.match(a) for a in attachments)
    ):
        raise InvalidStatementError("must be a list of SHA-256 hex digests", field="attachments")
    # Only the one canonical encoding is a statement: RFC 8785 bytes of an all-NFC value.
    if not canonical:
        try:
            encoded = canonical_json(nfc(obj))
        except (ValueError, RecursionError):
            encoded = None
        if encoded != data:
            raise InvalidStatementError("is not the RFC 8785 canonical form of its NFC value")
    return kind, subject, key, time_micros, body, attachments


@dataclass(frozen=True)
class ParsedStatement:
    """A statement's fields, parsed and checked from its canonical bytes."""

    kind: str
    subject: str
    key: str
    time_micros: int
    """The statement's time in microseconds since the Unix epoch, as the log's receive times are."""
    body: dict[str, Any]
    attachments: tuple[str, ...]

    @classmethod
    def parse(cls, data: bytes) -> ParsedStatement:
        kind, subject, key, time_micros, body, attachments = parse_fields(data)
        return cls(kind, subject, key, time_micros, body, tuple(attachments))

    @property
    def time(self) -> datetime:
        return micros_to_datetime(self.time_micros)


@dataclass(frozen=True)
class SignedStatement:
    """The canonical statement bytes and the actor's Ed25519 signature over them."""

    data: bytes
    signature: bytes

    def parse(self) -> ParsedStatement:
        return ParsedStatement.parse(self.data)

    @property
    def message(self) -> bytes:
        """The exact bytes the signature covers: the statement domain prefix, then the data."""
        return STATEMENT_DOMAIN + self.data

    @property
    def digest(self) -> bytes:
        """SHA-256 of :attr:`message`: the statement's identity inside its log entry."""
        return hashlib.sha256(self.message).digest()

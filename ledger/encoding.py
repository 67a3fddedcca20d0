"""Canonical bytes (RFC 8785 JCS), base64 and time helpers shared by the ledger's formats."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785

from .errors import MalformedError

JSONValue = Any
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def nfc(value: JSONValue) -> JSONValue:
    """Return ``value`` with every string (keys included) in Unicode NFC.

    The same visible Vietnamese text can be typed in NFC or NFD; JCS does not normalise, so we
    normalise before signing to give one text one hash.
    """
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {unicodedata.normalize("NFC", str(k)): nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nfc(v) for v in value]
    return value


def canonical_json(value: JSONValue) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value``; raises ``ValueError`` outside I-JSON."""
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(str(exc)) from exc


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: object, *, what: str, length: int | None = None) -> bytes:
    """Strict standard-alphabet, padded base64 (RFC 4648 section 4)."""
    if not isinstance(text, str):  # parsed JSON may hold any type here
        raise MalformedError(f"{what}: expected a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedError(f"{what}: invalid base64") from exc
    if length is not None and len(data) != length:
        raise MalformedError(f"{what}: expected {length} bytes, got {len(data)}")
    return data


def hex32(text: object, *, what: str) -> bytes:
    """Decode a 32-byte hash written as 64 lowercase hex digits."""
    if not isinstance(text, str) or len(text) != 64 or text != text.lower():
        raise MalformedError(f"{what}: expected 64 lowercase hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise MalformedError(f"{what}: expected 64 lowercase hex digits") from exc


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` and whole microseconds when present."""
    if moment.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> datetime:
    """Parse the statement time format written by :func:`format_time`."""
    if not text.endswith("Z") or "T" not in text:
        raise ValueError("time must be RFC 3339 UTC ending in Z, e.g. 2026-03-01T07:30:00Z")
    moment = datetime.fromisoformat(text[:-1] + "+00:00")
    if format_time(moment) != text:
        raise ValueError("time must be in canonical form, e.g. 2026-03-01T07:30:00.25Z")
    return moment


def micros_to_datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def datetime_to_micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

"""Canonical bytes (RFC 8785 JCS), base64 and time helpers shared by the ledger's formats."""

from __future__ import annotations

import base64
import binascii
import functools
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import rfc8785

from .errors import MalformedError

JSONValue = Any
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SAFE_INTEGER = 2**53 - 1  # I-JSON: integers beyond +-(2**53 - 1) are not exact doubles


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


# orjson writes RFC 8785 bytes for *plain* values (see _plain): the same escapes (only '"', '\\'
# and C0 controls, with \b \t \n \f \r short and the rest as lowercase \u00xx), raw UTF-8 for
# everything else, no whitespace, integers in decimal. Only two things differ: numbers that are
# not safe integers (RFC 8785 writes every number as ECMAScript writes a double) and key order,
# which RFC 8785 takes from UTF-16 code units and orjson from code points; the two orders agree
# unless a key holds a character beyond the Basic Multilingual Plane. The property tests in
# tests/ledger/test_canonical.py check all of this against the rfc8785 package.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _plain(value: JSONValue) -> bool:
    """True for values of exact JSON types, with safe integers, no floats, keys in the BMP."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or not _ASTRAL.search(key)):
                return False
            # Leaves are checked here, not by a call each: the verifier runs this on every
            # statement, and most of a statement's values are strings.
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if item_kind is int:
                if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                    return False
            elif not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # noqa: SIM110 (all() would make a generator per list)
            if not _plain(item):
                return False
        return True
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    return False


def plain_canonical_json(value: JSONValue) -> bytes | None:
    """RFC 8785 bytes of ``value`` by the fast path, or None where that path does not apply."""
    if not _plain(value):
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a lone surrogate
        return None


def canonical_json(value: JSONValue) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value``; raises ``ValueError`` outside I-JSON."""
    fast = plain_canonical_json(value)
    if fast is not None:
        return fast
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(str(exc)) from exc


def canonical_object(data: bytes) -> dict[str, JSONValue] | None:
    """The JSON object whose RFC 8785 bytes, with every string in NFC, are exactly ``data``.

    ``None`` means "not shown here", not "not canonical": the caller then decides the general
    way (``json.loads``, :func:`nfc`, :func:`canonical_json`). This path decodes and re-encodes
    with orjson, several times faster than that on a statement, and answers only for plain
    values (see :func:`plain_canonical_json`). When the re-encoding equals ``data``, ``data`` has no
    duplicate key, no whitespace and no needless escape (the re-encoding would have dropped
    them), and its only escapes stand for ASCII characters; so every string in it is NFC
    exactly when the whole text is, since NFC never composes or reorders across an ASCII
    character.
    """
    try:
        value = orjson.loads(data)
    except ValueError:
        return None
    if type(value) is not dict or plain_canonical_json(value) != data:
        return None
    if not data.isascii() and not unicodedata.is_normalized("NFC", data.decode()):
        return None
    return value


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


# What format_time writes: a four-digit year from 1000 (strftime pads no smaller one), and a
# fraction of one to six digits without trailing zeros.
_CANONICAL_TIME = re.compile(
    r"([1-9][0-9]{3}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{0,5}[1-9]))?Z\Z"
)


@functools.lru_cache(maxsize=1024)
def _epoch_days(day: str) -> int | None:
    """Days from 1970-01-01 to ``day`` (YYYY-MM-DD), or None if there is no such date.

    A log's statements fall on few days, so this is computed once a day, not once a statement.
    """
    try:
        return (date.fromisoformat(day) - EPOCH.date()).days
    except ValueError:
        return None


def parse_time_micros(text: str) -> int:
    """:func:`parse_time` as microseconds since the Unix epoch, without making a datetime."""
    match = _CANONICAL_TIME.match(text)
    if match is not None:
        day, hour, minute, second, fraction = match.groups()
        days = _epoch_days(day)
        hours, minutes, seconds = int(hour), int(minute), int(second)
        if days is not None and hours < 24 and minutes < 60 and seconds < 60:
            whole = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
            return whole * 1_000_000 + (int(fraction.ljust(6, "0")) if fraction else 0)
        # no such date or time: the general path below says why
    return datetime_to_micros(_parse_time_general(text))


def parse_time(text: str) -> datetime:
    """Parse the statement time format written by :func:`format_time`."""
    return micros_to_datetime(parse_time_micros(text))


def _parse_time_general(text: str) -> datetime:
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

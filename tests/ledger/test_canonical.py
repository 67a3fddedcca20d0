"""The fast paths to canonical bytes give exactly what the general (rfc8785) paths give.

`ledger.encoding.plain_canonical_json` (orjson) and `canonical_object` (orjson decode and
re-encode) must never disagree with the `rfc8785` package; `ParsedStatement.parse` must accept,
reject and return exactly what its general path does; `parse_time` and the subject check must
keep the behaviour of the code they replaced. Hypothesis drives each comparison, with the cases
where the two paths could part (floats, integers beyond 2**53, keys beyond the Basic
Multilingual Plane against keys in U+E000..U+FFFF, lone surrogates, decomposed text, duplicate
keys, needless escapes, whitespace) drawn on purpose.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ledger import InvalidStatementError, ParsedStatement
from ledger import encoding as encoding_module
from ledger import statement as statement_module
from ledger.encoding import (
    MAX_SAFE_INTEGER,
    canonical_json,
    canonical_object,
    datetime_to_micros,
    format_time,
    nfc,
    parse_time,
    parse_time_micros,
    plain_canonical_json,
)
from ledger.statement import SUBJECT_FORBIDDEN_RE

# Characters where the two paths could part: controls and the characters JSON escapes, the
# key-order trap (U+E000..U+FFFF sorts after surrogate pairs in UTF-16 but before astral
# characters by code point), astral characters, lone surrogates, combining marks and
# Vietnamese letters in composed and decomposed form.
TRICKY = st.sampled_from(
    [
        *"\x00\x01\x08\t\n\x0b\x0c\r\x1f \"\\/'\x7f\x80\u00e9\u2028\u2029\ud7ff\ue000\uffef\uffff",
        *("\U00010000", "\U0001f34a", "\U0010ffff", "\ud800", "\udc00", "\u0301", "\u0323"),
        *("\u01a1", "\u1edd", "o\u031b\u0300", "\u0110", "\u1ea1", "a\u0323"),
    ]
)


def text(max_size: int) -> st.SearchStrategy[str]:
    pieces = st.one_of(TRICKY, st.characters(codec=None))
    return st.lists(pieces, max_size=max_size).map("".join)


TEXT = text(8)
KEYS = text(4)
SAFE_INT = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
NUMBERS = st.one_of(
    SAFE_INT,
    st.integers(),  # beyond 2**53 too
    st.sampled_from([MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**64, -(2**63) - 1]),
    st.floats(),  # NaN and infinities too
    st.sampled_from([0.0, -0.0, 1.0, 6.5, 1e21, 1e-7, 5e-324, 1.7976931348623157e308]),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
    ),
    max_leaves=12,
)
PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), SAFE_INT, st.text(st.characters(codec="utf-8"))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(st.characters(max_codepoint=0xFFFF, codec="utf-8")), inner),
    ),
    max_leaves=12,
)


def rfc8785_or_none(value: Any) -> bytes | None:
    """rfc8785's bytes, or None where it refuses the value (not I-JSON)."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return None


class TestPlainCanonicalJson:
    @settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
    @given(JSON)
    @example({"\ue000": 1, "\U0001f34a": 2})  # UTF-16 order: U+1F34A (D83C...) first
    @example({"a": 1.0, "b": 2**53})
    @example(["\ud800"])
    def test_equals_rfc8785_whenever_it_answers(self, value: Any) -> None:
        fast = plain_canonical_json(value)
        if fast is not None:
            assert fast == rfc8785.dumps(value)

    @given(PLAIN)
    def test_answers_for_every_plain_value(self, value: Any) -> None:
        assert plain_canonical_json(value) == rfc8785.dumps(value)

    @given(JSON)
    def test_canonical_json_is_rfc8785(self, value: Any) -> None:
        expected = rfc8785_or_none(value)
        if expected is None:
            with pytest.raises(ValueError):
                canonical_json(value)
        else:
            assert canonical_json(value) == expected

    def test_keys_beyond_the_bmp_sort_in_utf16_order(self) -> None:
        value = {"\ue000": 1, "\U0001f34a": 2}
        assert plain_canonical_json(value) is None
        assert canonical_json(value) == '{"\U0001f34a":2,"\ue000":1}'.encode()


def mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` and variants that are still JSON, or nearly, but not canonical."""
    text = data.decode("utf-8", "surrogatepass")
    variants = [
        text.replace(":", ": ", 1),
        text.replace(",", ", ", 1),
        " " + text,
        text + "\n",
        unicodedata.normalize("NFD", text),
        text.replace("\u00e9", "\\u00e9"),
        text.replace("\\n", "\\u000a"),
        text.replace("/", "\\/"),
        text[:1] + '"a":1,' + text[1:] if len(text) > 2 else text,
        text.replace("1", "1.0", 1),
        text.replace("1", "1e0", 1),
        text.replace("0", "-0", 1),
        text.replace("}", ',"a":0}', 1),
    ]
    return st.sampled_from([v.encode("utf-8", "surrogatepass") for v in variants] + [data])


@st.composite
def candidate_bytes(draw: st.DrawFn) -> bytes:
    value = draw(st.dictionaries(KEYS, JSON, max_size=4))
    encoded = rfc8785_or_none(value) or json.dumps(value, ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    return draw(mutations(encoded))


class TestCanonicalObject:
    @settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
    @given(candidate_bytes())
    @example(b'{"a":1,"a":1}')
    @example(b'{"a":1.5}')
    @example(b'{"a":9007199254740992}')
    @example('{"\U0001f34a":1,"\ue000":2}'.encode())
    @example('{"\ue000":2,"\U0001f34a":1}'.encode())
    @example('{"a":"e\u0301"}'.encode())
    @example(b'{"a":"\\u00e9"}')
    @example(b'{"a":NaN}')
    def test_answers_only_for_canonical_nfc_bytes(self, data: bytes) -> None:
        value = canonical_object(data)
        if value is not None:
            assert value == json.loads(data)
            assert rfc8785.dumps(nfc(value)) == data

    @given(st.dictionaries(st.text(st.characters(max_codepoint=0xFFFF, codec="utf-8")), PLAIN))
    def test_answers_for_canonical_plain_objects(self, value: dict[str, Any]) -> None:
        value = nfc(value)  # (NFC takes a few BMP characters beyond the BMP)
        assume(plain_canonical_json(value) is not None)
        assert canonical_object(rfc8785.dumps(value)) == value


def statement_bytes() -> st.SearchStrategy[bytes]:
    """Statements, valid or a little off, canonical or not."""
    fields = st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, 1, 1, 2, True, 1.0]),
            "kind": st.sampled_from(["step.harvest", "key.register", "Step", "a..b", 7]),
            "subject": st.one_of(st.sampled_from(["batch:B-1", "lô\u00a01", ""]), TEXT),
            "key": st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31, None]),
            "time": st.sampled_from(
                [
                    *(
                        "2026-03-01T07:30:00Z",
                        "2026-03-01T07:30:00.25Z",
                        "2026-03-01T07:30:00.250Z",
                    ),
                    *("2026-02-30T07:30:00Z", "0999-03-01T07:30:00Z", "2026-03-01 07:30:00Z", "x"),
                ]
            ),
            "body": st.one_of(st.dictionaries(KEYS, JSON, max_size=4), st.lists(SAFE_INT)),
            "attachments": st.sampled_from([[], ["cd" * 32], ["nothex"], "x"]),
        },
        optional={"extra": st.just(1)},
    )
    return fields.flatmap(
        lambda obj: mutations(
            rfc8785_or_none(nfc(obj))
            or json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
        )
    )


def parse_or_error(data: bytes) -> ParsedStatement | str:
    try:
        return ParsedStatement.parse(data)
    except InvalidStatementError as exc:
        return f"{exc.field}: {exc.reason}"


class TestParseFastPath:
    @settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
    @given(statement_bytes())
    def test_parse_is_the_general_path(self, data: bytes) -> None:
        fast = parse_or_error(data)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(statement_module, "canonical_object", lambda data: None)
            general = parse_or_error(data)
        assert fast == general


class TestParseTime:
    @given(st.datetimes(timezones=st.just(UTC)))
    def test_reads_what_format_time_writes(self, moment: datetime) -> None:
        text = format_time(moment)
        if moment.year >= 1000:  # strftime writes smaller years without padding
            assert parse_time(text) == moment
            # The verifier's path computes the microseconds itself, without a datetime.
            assert parse_time_micros(text) == datetime_to_micros(moment)

    @given(
        st.one_of(
            st.datetimes(timezones=st.just(UTC)).map(format_time),
            st.from_regex(
                r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,7})?Z?\Z"
            ),
        ).flatmap(lambda t: st.sampled_from([t, t.replace("Z", "+00:00"), t + "Z", t[1:]]))
    )
    def test_is_the_general_path(self, text: str) -> None:
        def outcome() -> datetime | str:
            try:
                return parse_time(text)
            except ValueError as exc:
                return str(exc)

        fast = outcome()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(encoding_module, "_CANONICAL_TIME", re.compile(r"(?!)"))
            assert outcome() == fast


def test_subject_check_forbids_what_it_did_character_by_character() -> None:
    for code in range(0x110000):
        char = chr(code)
        old = ord(char) < 0x20 or (char.isspace() and char != " ")
        assert (SUBJECT_FORBIDDEN_RE.search(char) is not None) is old, hex(code)

"""Statements: canonical bytes, NFC, field validation, signatures and domain separation."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger import InvalidStatementError, ParsedStatement, SignedStatement, Statement
from ledger.checkpoint import Checkpoint
from ledger.statement import STATEMENT_DOMAIN
from tests.support import seeded_signer

HOUSEHOLD = seeded_signer("household:H1", 3)
WHEN = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)


def statement(**overrides: object) -> Statement:
    fields: dict[str, object] = {
        "kind": "step.harvest",
        "subject": "batch:BPT-2026-001",
        "key": HOUSEHOLD.key_id,
        "time": WHEN,
        "body": {"quantity_kg": 120, "product": "bưởi Phúc Trạch"},
    }
    fields.update(overrides)
    return Statement(**fields)  # type: ignore[arg-type]


def raw(**fields: object) -> bytes:
    base = json.loads(statement().canonical())
    base.update(fields)
    return json.dumps(base, ensure_ascii=False).encode()


class TestCanonicalBytes:
    def test_keys_sorted_no_whitespace_raw_utf8(self) -> None:
        data = statement().canonical()
        assert data.startswith(b'{"attachments":[],"body":{"product":"b\xc6\xb0\xe1\xbb\x9fi')
        assert b" " not in data.replace("bưởi Phúc Trạch".encode(), b"")
        assert data == json.dumps(json.loads(data), ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":")).encode()  # fmt: skip

    def test_nfd_input_signs_the_same_bytes_as_nfc(self) -> None:
        nfd = unicodedata.normalize("NFD", "bưởi Phúc Trạch")
        assert nfd != "bưởi Phúc Trạch"
        assert (
            statement(body={"product": nfd}).canonical()
            == statement(body={"product": "bưởi Phúc Trạch"}).canonical()
        )

    def test_time_is_utc_z(self) -> None:
        hanoi = timezone(timedelta(hours=7))
        data = statement(time=datetime(2026, 3, 1, 14, 30, 0, 250000, tzinfo=hanoi)).canonical()
        assert b'"time":"2026-03-01T07:30:00.25Z"' in data

    def test_floats_and_big_integers(self) -> None:
        assert b'"ph":6.5' in statement(body={"ph": 6.50}).canonical()
        with pytest.raises(InvalidStatementError, match="body"):
            statement(body={"grams": 2**60}).canonical()


class TestParse:
    @pytest.mark.parametrize(
        ("data", "field"),
        [
            (raw(kind="Step Harvest"), "kind"),
            (raw(subject=""), "subject"),
            (raw(subject="x" * 129), "subject"),
            (raw(subject="batch:\n1"), "subject"),
            (raw(key="abc"), "key"),
            (raw(time="2026-03-01 07:30"), "time"),
            (raw(time="2026-03-01T07:30:00+07:00"), "time"),
            (raw(body=[1, 2]), "body"),
            (raw(attachments=["nothex"]), "attachments"),
            (raw(v=2), "v"),
            (raw(extra=1), "extra"),
        ],
    )
    def test_invalid_field_is_named(self, data: bytes, field: str) -> None:
        with pytest.raises(InvalidStatementError) as info:
            ParsedStatement.parse(data)
        assert info.value.field == field

    def test_missing_field_is_named(self) -> None:
        obj = json.loads(statement().canonical())
        del obj["subject"]
        with pytest.raises(InvalidStatementError) as info:
            ParsedStatement.parse(json.dumps(obj).encode())
        assert info.value.field == "subject"

    @pytest.mark.parametrize("data", [b"", b"[]", b"{", b'{"v":1,"v":1}', b"\xff", b"x" * 70000])
    def test_garbage_is_rejected(self, data: bytes) -> None:
        with pytest.raises(InvalidStatementError):
            ParsedStatement.parse(data)

    def test_roundtrip(self) -> None:
        parsed = ParsedStatement.parse(statement(attachments=["ab" * 32]).canonical())
        assert parsed.kind == "step.harvest"
        assert parsed.time == WHEN
        assert parsed.attachments == ("ab" * 32,)
        assert parsed.body["product"] == "bưởi Phúc Trạch"


class TestSigning:
    def test_signature_covers_domain_and_bytes(self) -> None:
        signed = statement().sign(HOUSEHOLD)
        assert HOUSEHOLD.verifier.verify(signed.signature, STATEMENT_DOMAIN + signed.data)
        assert not HOUSEHOLD.verifier.verify(signed.signature, signed.data)

    def test_must_name_the_signing_key(self) -> None:
        other = seeded_signer("household:H2", 4)
        with pytest.raises(InvalidStatementError, match="key"):
            statement().sign(other)

    def test_a_checkpoint_signature_is_never_a_statement_signature(self) -> None:
        # A log key signing a checkpoint whose text starts like a statement message must
        # still not yield a valid statement signature, thanks to the domain prefix.
        note = Checkpoint("goc.test/log", 1, bytes(32)).sign(seeded_signer("goc.test/log", 9))
        assert not note.encode().startswith(STATEMENT_DOMAIN)

    def test_digest_changes_with_any_byte(self) -> None:
        signed = statement().sign(HOUSEHOLD)
        flipped = SignedStatement(signed.data.replace(b"120", b"121"), signed.signature)
        assert flipped.digest != signed.digest

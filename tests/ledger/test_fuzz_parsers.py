"""Property-based fuzzing of the parsers that read untrusted bytes: statements, signed notes and
checkpoints, export bundles (and a verifier replaying a parsed bundle). Whatever the input,
random or a mutation of a valid one, they either succeed or raise the ledger's own typed error
(ledger.errors.LedgerError); never another exception."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import (
    KEY_REGISTER,
    BundleReader,
    Checkpoint,
    Entry,
    LedgerError,
    LogVerifier,
    ParsedStatement,
    SignedNote,
    Statement,
)
from ledger.bundle import FORMAT, entry_line
from ledger.encoding import b64encode, datetime_to_micros
from ledger.entry import ZERO_HASH
from ledger.merkle import CompactRange
from tests.support import ORIGIN, seeded_signer

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
LOG = seeded_signer(ORIGIN, 1)
AUTHORITY = seeded_signer("goc.test/authority", 2)
HOUSEHOLD = seeded_signer("household:H1", 3)
WHEN = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DEEP = b"[" * 100_000 + b"]" * 100_000


def only_ledger_errors(parse: Callable[[], Any]) -> None:
    with contextlib.suppress(LedgerError):
        parse()


def _valid_log() -> tuple[list[Entry], str]:
    """A small valid log (the authority registers a household key, the household logs a step)
    and the signed checkpoint of its two entries."""
    register = Statement(
        kind=KEY_REGISTER,
        subject="household:H1",
        key=AUTHORITY.key_id,
        time=WHEN,
        body={"public_key": b64encode(HOUSEHOLD.public_key)},
    ).sign(AUTHORITY)
    step = Statement(
        kind="batch.create", subject="batch:B1", key=HOUSEHOLD.key_id, time=WHEN,
        body={"product": "bưởi Phúc Trạch"},
    ).sign(HOUSEHOLD)  # fmt: skip
    entries: list[Entry] = []
    prev = ZERO_HASH
    for seq, statement in enumerate((register, step)):
        entry = Entry.build(seq=seq, received_micros=datetime_to_micros(WHEN) + seq, prev_hash=prev,
                            subject_prev_hash=ZERO_HASH, statement=statement)  # fmt: skip
        entries.append(entry)
        prev = entry.hash
    tree = CompactRange.from_nodes(0, {})
    for entry in entries:
        tree.append(entry.leaf_hash)
    return entries, Checkpoint(ORIGIN, len(entries), tree.root()).sign(LOG)


ENTRIES, NOTE = _valid_log()
STATEMENT = ENTRIES[1].statement.data
BUNDLE_LINES: list[dict[str, Any]] = [
    {"format": FORMAT, "scope": "log", "origin": ORIGIN},
    entry_line(ENTRIES[0]),
    entry_line(ENTRIES[1]),
    {"type": "checkpoint", "note": NOTE},
]


def mutate_bytes(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a slice replaced by random bytes (covers flips, inserts and cuts)."""
    return st.tuples(st.integers(0, len(data)), st.integers(0, 8), st.binary(max_size=8)).map(
        lambda t: data[: t[0]] + t[2] + data[t[0] + t[1] :]
    )


def mutate_text(text: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, len(text)), st.integers(0, 8), st.text(max_size=8)).map(
        lambda t: text[: t[0]] + t[2] + text[t[0] + t[1] :]
    )


# Statements ---------------------------------------------------------------------------------


def test_the_valid_inputs_parse() -> None:
    """The mutations below start from inputs that really are valid."""
    assert ParsedStatement.parse(STATEMENT).subject == "batch:B1"
    assert Checkpoint.verify_note(NOTE, LOG.verifier).size == 2
    items = list(BundleReader(io.StringIO(bundle_text(BUNDLE_LINES))).items())
    verifier = LogVerifier(log_key=LOG.verifier, authority_keys=[AUTHORITY.verifier], workers=0)
    assert verifier.verify_log(items).entries == 2


@FUZZ
@given(st.binary(max_size=512) | mutate_bytes(STATEMENT))
@example(DEEP)
@example(b'{"a":' * 5000 + b"1" + b"}" * 5000)
@example(b"9" * 5000)
@example(b'"\\ud800"')
def test_statement_bytes(data: bytes) -> None:
    only_ledger_errors(lambda: ParsedStatement.parse(data))


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(json.loads(STATEMENT))), json_values), st.data())
def test_statement_fields(changes: dict[str, Any], data: st.DataObject) -> None:
    obj = {**json.loads(STATEMENT), **changes}
    encoded = json.dumps(obj, ensure_ascii=data.draw(st.booleans()), sort_keys=True,
                         separators=(",", ":")).encode()  # fmt: skip
    only_ledger_errors(lambda: ParsedStatement.parse(encoded))


# Signed notes and checkpoints ----------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300) | mutate_text(NOTE))
@example("a\n1\n" + "A" * 43 + "=\n\n\u2014 " + ORIGIN + " \ud800\n")
@example("\ud800\n1\nAAAA\n\n\u2014 x AAAAAAAA\n")
@example(NOTE.replace("\n\n", "\nextension \ud800\n\n", 1))
def test_checkpoint_notes(note: str) -> None:
    only_ledger_errors(lambda: Checkpoint.verify_note(note, LOG.verifier))
    only_ledger_errors(lambda: Checkpoint.from_text(SignedNote.parse(note).text))


# Bundles ------------------------------------------------------------------------------------


def bundle_text(lines: list[Any]) -> str:
    return "".join(
        (line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
        for line in lines
    )


def replay(text: str) -> None:
    reader = BundleReader(io.StringIO(text))
    items = list(reader.items())
    verifier = LogVerifier(log_key=LOG.verifier, authority_keys=[AUTHORITY.verifier], workers=0)
    verifier.verify_log(item for item in items if isinstance(item, Entry | str))


@st.composite
def mutated_bundles(draw: st.DrawFn) -> str:
    lines: list[Any] = [dict(line) for line in BUNDLE_LINES]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        action = draw(st.sampled_from(["set", "drop", "text", "remove", "swap"]))
        if action == "set" and isinstance(line, dict):
            line[draw(st.sampled_from([*sorted(line), "proof", "type"]))] = draw(json_values)
        elif action == "drop" and isinstance(line, dict) and line:
            line.pop(draw(st.sampled_from(sorted(line))))
        elif action == "text":
            lines[index] = draw(
                st.text(max_size=40) | mutate_text(bundle_text([line]).rstrip("\n"))
            )
        elif action == "remove" and len(lines) > 1:
            lines.pop(index)
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
    return bundle_text(lines)


@FUZZ
@given(st.text(max_size=300) | mutated_bundles())
@example(bundle_text([BUNDLE_LINES[0], "[" * 100_000]))
@example(bundle_text([BUNDLE_LINES[0], {**BUNDLE_LINES[1], "statement": 5}]))
@example(bundle_text([BUNDLE_LINES[0], {**BUNDLE_LINES[1], "proof": [7]}]))
@example(bundle_text([*BUNDLE_LINES[:3], {"type": "checkpoint", "note": NOTE + "\ud800"}]))
def test_bundles(text: str) -> None:
    only_ledger_errors(lambda: replay(text))

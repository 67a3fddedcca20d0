"""The worked vectors of docs/ledger-format.md, recomputed three ways.

1. With the library, from the fixed inputs below: every labelled value printed in the document
   must equal what the code produces, so the document and the code cannot drift apart.
2. Independently, with only hashlib, struct, base64, json, rfc8785 and cryptography, following
   the byte layouts the document describes: this proves the description, not just the output.
3. Published C2SP signed-note vectors (C2SP ``signed-note.md``, golang/mod ``sumdb/note``) and a
   checkpoint over the transparency-dev RFC 6962 test leaves, against ``ledger.keys`` and
   ``ledger.checkpoint``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import struct
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger import (
    KEY_REGISTER,
    BundleReader,
    Checkpoint,
    CheckpointError,
    Entry,
    InvalidStatementError,
    Ledger,
    LogVerifier,
    NoteSigner,
    NoteVerifier,
    ParsedStatement,
    ProvenEntry,
    SignedNote,
    Statement,
    iter_log_bundle,
    iter_subject_bundle,
    open_engine,
)
from ledger.bundle import entry_line
from ledger.checkpoint import NoteSignature
from ledger.cli import main as cli_main
from ledger.encoding import b64encode, datetime_to_micros, format_time
from ledger.entry import ENTRY_DOMAIN, ZERO_HASH
from ledger.keys import KEY_ID_DOMAIN
from ledger.merkle import (
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from ledger.statement import STATEMENT_DOMAIN

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger-format.md"

# -- the fixed inputs of the worked example (docs/ledger-format.md, "Test vectors") ------------
ORIGIN = "goc.example/log"
AUTHORITY_NAME = "goc.example/authority"
HOUSEHOLD = "household:H001"
BATCH = "batch:BPT-2026-001"
SEEDS = {"log": bytes([1]) * 32, "authority": bytes([2]) * 32, "household": bytes([3]) * 32}
NAMES = {"log": ORIGIN, "authority": AUTHORITY_NAME, "household": HOUSEHOLD}
LABEL = "Nguyễn Thị Lan"
PRODUCT = "bưởi Phúc Trạch"
PHOTO = hashlib.sha256(b"goc example photo").hexdigest()
TIMES = {
    "register": datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
    "harvest": datetime(2026, 3, 1, 7, 30, tzinfo=UTC),
    "pack": datetime(2026, 3, 1, 9, 15, 0, 500000, tzinfo=UTC),
}
RECEIVED = [
    datetime(2026, 3, 1, 7, 0, 0, 250000, tzinfo=UTC),
    datetime(2026, 3, 1, 7, 30, 2, 123456, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 15, 1, tzinfo=UTC),
]
STATEMENT_NAMES = ("register", "harvest", "pack")


def signers() -> dict[str, NoteSigner]:
    return {role: NoteSigner.from_seed(NAMES[role], SEEDS[role]) for role in SEEDS}


def statements() -> dict[str, Statement]:
    keys = signers()
    household_b64 = b64encode(keys["household"].public_key)
    return {
        # The label is given in NFD on purpose: the signed bytes carry it in NFC.
        "register": Statement(
            kind=KEY_REGISTER,
            subject=HOUSEHOLD,
            key=keys["authority"].key_id,
            time=TIMES["register"],
            body={"public_key": household_b64, "label": unicodedata.normalize("NFD", LABEL)},
        ),
        "harvest": Statement(
            kind="step.harvest",
            subject=BATCH,
            key=keys["household"].key_id,
            time=TIMES["harvest"],
            body={"product": PRODUCT, "quantity_kg": 120},
            attachments=[PHOTO],
        ),
        "pack": Statement(
            kind="step.pack",
            subject=BATCH,
            key=keys["household"].key_id,
            time=TIMES["pack"],
            body={"boxes": 6, "weight_kg": 118.5},
        ),
    }


def vector_log() -> list[Entry]:
    """The three entries, built directly with ``Entry.build`` at fixed receive times."""
    keys = signers()
    made = statements()
    signed = [
        made["register"].sign(keys["authority"]),
        made["harvest"].sign(keys["household"]),
        made["pack"].sign(keys["household"]),
    ]
    entries: list[Entry] = []
    subject_heads: dict[str, bytes] = {}
    for seq, statement in enumerate(signed):
        subject = statement.parse().subject
        entry = Entry.build(
            seq=seq,
            received_micros=datetime_to_micros(RECEIVED[seq]),
            prev_hash=entries[-1].hash if entries else ZERO_HASH,
            subject_prev_hash=subject_heads.get(subject, ZERO_HASH),
            statement=statement,
        )
        subject_heads[subject] = entry.hash
        entries.append(entry)
    return entries


def dump_line(obj: dict[str, object]) -> str:
    """A bundle line as the exporter writes it (docs/ledger-format.md, "Export bundle")."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def proof(index: int, size: int, leaves: list[bytes]) -> list[bytes]:
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    nodes[(1, 0)] = node_hash(leaves[0], leaves[1])
    return [range_hash(start, end, nodes) for start, end in inclusion_ranges(index, size)]


def library_vectors() -> dict[str, str]:
    """Every labelled vector of the document, computed with the library."""
    v: dict[str, str] = {
        "domain.statement": STATEMENT_DOMAIN.hex(),
        "domain.key": KEY_ID_DOMAIN.hex(),
        "domain.entry": ENTRY_DOMAIN.hex(),
    }
    keys = signers()
    for role, signer in keys.items():
        v[f"key.{role}.seed"] = signer.seed.hex()
        v[f"key.{role}.public"] = signer.public_key.hex()
        v[f"key.{role}.public_base64"] = b64encode(signer.public_key)
        if role != "log":  # the log key signs checkpoints only, never statements
            v[f"key.{role}.key_id"] = signer.key_id
        if role != "household":  # trust roots are configured as C2SP key strings
            v[f"key.{role}.note_key_id"] = f"{signer.verifier.key_id:08x}"
            v[f"key.{role}.vkey"] = signer.verifier.vkey()
            v[f"key.{role}.skey"] = signer.skey()
    v["input.photo"] = PHOTO
    entries = vector_log()
    for name, entry in zip(STATEMENT_NAMES, entries, strict=True):
        statement = entry.statement
        v[f"statement.{name}.canonical"] = statement.data.decode()
        v[f"statement.{name}.canonical_hex"] = statement.data.hex()
        v[f"statement.{name}.digest"] = statement.digest.hex()
        v[f"statement.{name}.signature"] = statement.signature.hex()
    for entry in entries:
        e = f"entry.{entry.seq}"
        v[f"{e}.received_micros"] = str(entry.received_micros)
        v[f"{e}.received"] = format_time(entry.received_at)
        v[f"{e}.prev_hash"] = entry.prev_hash.hex()
        v[f"{e}.subject_prev_hash"] = entry.subject_prev_hash.hex()
        v[f"{e}.preimage"] = (
            ENTRY_DOMAIN
            + struct.pack(">QQ", entry.seq, entry.received_micros)
            + entry.prev_hash
            + entry.subject_prev_hash
            + entry.statement.digest
            + entry.statement.signature
        ).hex()
        v[f"{e}.hash"] = entry.hash.hex()
        v[f"{e}.leaf_hash"] = entry.leaf_hash.hex()
    leaves = [e.leaf_hash for e in entries]
    root1, root3 = root_from_leaves(leaves[:1]), root_from_leaves(leaves)
    v["tree.node.1.0"] = node_hash(leaves[0], leaves[1]).hex()
    v["tree.root.1"] = root1.hex()
    v["tree.root.3"] = root3.hex()
    v["tree.root.3.base64"] = b64encode(root3)
    log_key = keys["log"]
    notes = {
        1: Checkpoint(ORIGIN, 1, root1).sign(log_key),
        3: Checkpoint(ORIGIN, 3, root3).sign(log_key),
    }
    for size, note in notes.items():
        v[f"checkpoint.{size}.note"] = note
        v[f"checkpoint.{size}.signature"] = SignedNote.parse(note).signatures[0].signature.hex()
    proofs = {seq: proof(seq, 3, leaves) for seq in range(3)}
    for seq, hashes in proofs.items():
        v[f"proof.inclusion.{seq}"] = "".join(h.hex() for h in hashes)
    consistency_nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    v["proof.consistency.1.3"] = "".join(
        range_hash(s, e, consistency_nodes).hex() for s, e in consistency_ranges(1, 3)
    )
    header = {"format": "goc-ledger-bundle/v1", "scope": "log", "origin": ORIGIN}
    v["bundle.log"] = "".join(
        [
            dump_line(header),
            dump_line(entry_line(entries[0])),
            dump_line({"type": "checkpoint", "note": notes[1]}),
            dump_line(entry_line(entries[1])),
            dump_line(entry_line(entries[2])),
            dump_line({"type": "checkpoint", "note": notes[3]}),
        ]
    )
    header = {**header, "scope": "subject", "subject": BATCH}
    v["bundle.subject"] = "".join(
        [
            dump_line(header),
            dump_line({"type": "checkpoint", "note": notes[3]}),
            *(dump_line(entry_line(e, proofs[e.seq])) for e in entries),
        ]
    )
    return v


# -- reading the document -------------------------------------------------------------------
SCALAR_RE = re.compile(r"^\| `([a-z0-9_.]+)` \| `([^`]+)` \|", re.M)
BLOCK_RE = re.compile(r"^```(hex|json|text) vector=([a-z0-9_.]+)\n(.*?)^```$", re.M | re.S)


def doc_vectors() -> dict[str, str]:
    """The labelled values of section 13, by the rules of its "Reading the vectors" part.

    Table rows ``| `label` | `value` |`; ``hex`` blocks ignore whitespace; a ``json`` block is
    one line without its line feed; a ``text`` block is every line, each ending in a line feed.
    """
    document = DOC.read_text(encoding="utf-8")
    heading = "\n## 13. Test vectors\n"
    assert document.count(heading) == 1
    text = document.split(heading)[1]
    found: list[tuple[str, str]] = list(SCALAR_RE.findall(text))
    for kind, label, body in BLOCK_RE.findall(text):
        if kind == "hex":
            found.append((label, "".join(body.split())))
        elif kind == "json":
            assert body.count("\n") == 1, f"{label}: a json vector is a single line"
            found.append((label, body[:-1]))
        else:
            found.append((label, body))
    labels = [label for label, _ in found]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    assert not duplicates, f"labels printed twice in the document: {duplicates}"
    return dict(found)


@pytest.fixture(scope="module")
def doc() -> dict[str, str]:
    return doc_vectors()


def hashes(hex_text: str) -> list[bytes]:
    assert len(hex_text) % 64 == 0
    return [bytes.fromhex(hex_text[i : i + 64]) for i in range(0, len(hex_text), 64)]


# -- 1. the document equals the library's output ----------------------------------------------
def test_document_prints_exactly_the_library_vectors(doc: dict[str, str]) -> None:
    expected = library_vectors()
    assert sorted(doc) == sorted(expected), "the document's vector labels changed"
    for label, value in expected.items():
        assert doc[label] == value, f"{label} in docs/ledger-format.md is stale"


def test_document_text_forms_agree_with_hex_forms(doc: dict[str, str]) -> None:
    for name in STATEMENT_NAMES:
        canonical = doc[f"statement.{name}.canonical"].encode()
        assert canonical == bytes.fromhex(doc[f"statement.{name}.canonical_hex"])
        assert unicodedata.is_normalized("NFC", canonical.decode())
    assert base64.b64decode(doc["tree.root.3.base64"]) == bytes.fromhex(doc["tree.root.3"])


def test_vector_log_verifies_offline(doc: dict[str, str], tmp_path: Path) -> None:
    verifier = LogVerifier(
        log_key=NoteVerifier.from_vkey(doc["key.log.vkey"]),
        authority_keys=[NoteVerifier.from_vkey(doc["key.authority.vkey"])],
        workers=0,
    )
    e0, e1, e2 = vector_log()
    summary = verifier.verify_log([e0, doc["checkpoint.1.note"], e1, e2, doc["checkpoint.3.note"]])
    assert (summary.entries, summary.subjects) == (3, 2)
    assert summary.checkpoint == Checkpoint(ORIGIN, 3, bytes.fromhex(doc["tree.root.3"]))

    reader = BundleReader(StringIO(doc["bundle.subject"]))
    assert (reader.header.scope, reader.header.subject) == ("subject", BATCH)
    items = list(reader.items())
    note = items[0]
    proven = [p for p in items[1:] if isinstance(p, ProvenEntry)]
    assert isinstance(note, str) and len(proven) == len(items) - 1 == 3
    subject = verifier.verify_subject(BATCH, note, proven)
    assert subject.entries == 2

    log_items = [e0, doc["checkpoint.1.note"], e1, e2, doc["checkpoint.3.note"]]
    assert list(BundleReader(StringIO(doc["bundle.log"])).items()) == log_items

    # The vkey strings of the document work with the command-line verifier as printed.
    tail = f"latest checkpoint {ORIGIN} size 3 root {doc['tree.root.3.base64']}"
    for name, line in [
        ("log", f"OK: 3 entries, 2 subjects, {tail}"),
        ("subject", f"OK: 2 entries, 1 subjects, {tail}"),
    ]:
        path = tmp_path / f"{name}.jsonl"
        path.write_text(doc[f"bundle.{name}"], encoding="utf-8")
        args = ["verify", str(path), "--log-key", doc["key.log.vkey"]]
        args += ["--authority-key", doc["key.authority.vkey"], "--workers", "0"]
        out = StringIO()
        with contextlib.redirect_stdout(out):
            assert cli_main(args) == 0
        assert out.getvalue() == line + "\n"


def test_store_appends_exactly_the_vector_log(doc: dict[str, str], database_url: str) -> None:
    """A real ledger with a fixed clock writes the document's entries, notes and bundles."""
    keys = signers()
    received = [datetime_to_micros(t) for t in RECEIVED]
    ticks: Iterator[int] = iter(
        [received[0], received[0] + 1000, received[1], received[2], received[2] + 1000]
    )
    engine = open_engine(database_url)
    try:
        ledger = Ledger(
            engine,
            log_signer=keys["log"],
            authorities=[keys["authority"].verifier],
            clock=lambda: next(ticks),
        )
        made = statements()
        ledger.append(made["register"].sign(keys["authority"]))
        ledger.append_many(
            [made["harvest"].sign(keys["household"]), made["pack"].sign(keys["household"])]
        )
        assert ledger.entries() == vector_log()
        assert [c.note for c in ledger.checkpoints()] == [
            doc["checkpoint.1.note"],
            doc["checkpoint.3.note"],
        ]
        for seq in range(3):
            assert b"".join(ledger.inclusion_proof(seq, 3)).hex() == doc[f"proof.inclusion.{seq}"]
        assert b"".join(ledger.consistency_proof(1, 3)).hex() == doc["proof.consistency.1.3"]
        assert "".join(iter_log_bundle(ledger, ORIGIN)) == doc["bundle.log"]
        assert "".join(iter_subject_bundle(ledger, ORIGIN, BATCH)) == doc["bundle.subject"]
    finally:
        engine.dispose()


def test_readers_accept_only_the_canonical_bytes(doc: dict[str, str]) -> None:
    """Section 4.2: bytes are a statement only if they are JCS(NFC(value)) of their own value."""
    register = doc["statement.register.canonical"].encode()
    pack = doc["statement.pack.canonical"].encode()
    nfc_label, nfd_label = LABEL.encode(), unicodedata.normalize("NFD", LABEL).encode()
    variants = [
        register.replace(nfc_label, nfd_label),  # NFD text
        register.replace(b'"v":1}', b'"v":1 }'),  # whitespace
        register + b"\n",
        b"\xef\xbb\xbf" + register,  # byte-order mark
        b'{"v":1,' + register[1:].replace(b',"v":1}', b"}"),  # properties out of order
        register.replace(nfc_label, json.dumps(LABEL).encode()[1:-1]),  # \u escapes
        register.replace(b'"v":1', b'"v":1.0'),
        register.replace(b'"kind":"key.register"', b'"kind":"key.register\\n"'),
        pack.replace(b'"boxes":6', b'"boxes":NaN'),
        pack.replace(b'"boxes":6', b'"boxes":9007199254740993'),  # not a double
        pack.replace(b'"boxes":6', b'"boxes":6.0'),
    ]
    for data in variants:
        assert data != register
        with pytest.raises(InvalidStatementError):
            ParsedStatement.parse(data)
    assert ParsedStatement.parse(register).body["label"] == LABEL
    # An integer literal beyond 2**53 - 1 that a double holds exactly is canonical JCS.
    big = pack.replace(b'"boxes":6', b'"boxes":1152921504606847000')
    assert ParsedStatement.parse(big).body["boxes"] == 2.0**60


def test_signature_lines_end_at_line_feeds_only(doc: dict[str, str]) -> None:
    """Section 9.1: U+2028 inside a signature line does not start a new line."""
    note = doc["checkpoint.3.note"]
    odd = note.replace("\u2014 goc.example/log ", "\u2014 goc.example/log\u2028x ")
    signatures = SignedNote.parse(odd).signatures
    assert [s.name for s in signatures] == ["goc.example/log\u2028x"]
    with pytest.raises(CheckpointError, match="no signature"):
        Checkpoint.verify_note(odd, NoteVerifier.from_vkey(doc["key.log.vkey"]))


# -- 2. the document's byte layouts, checked without the library ------------------------------
def raw_public(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_independent_domains(doc: dict[str, str]) -> None:
    assert bytes.fromhex(doc["domain.statement"]) == b"goc/statement/v1\n"
    assert bytes.fromhex(doc["domain.key"]) == b"goc/key/v1\n"
    assert bytes.fromhex(doc["domain.entry"]) == b"goc/entry/v1\n"


@pytest.mark.parametrize("role", sorted(SEEDS))
def test_independent_keys(doc: dict[str, str], role: str) -> None:
    seed, name = SEEDS[role], NAMES[role]
    public = raw_public(seed)
    assert doc[f"key.{role}.seed"] == seed.hex()
    assert doc[f"key.{role}.public"] == public.hex()
    assert doc[f"key.{role}.public_base64"] == b64(public)
    if role != "log":
        key_id = hashlib.sha256(b"goc/key/v1\n" + public).hexdigest()
        assert doc[f"key.{role}.key_id"] == key_id
    if role == "household":
        return
    note_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex()
    assert doc[f"key.{role}.note_key_id"] == note_id
    ed25519 = b"\x01"  # the C2SP signature type byte
    assert doc[f"key.{role}.vkey"] == f"{name}+{note_id}+{b64(ed25519 + public)}"
    assert doc[f"key.{role}.skey"] == f"PRIVATE+KEY+{name}+{note_id}+{b64(ed25519 + seed)}"


def documented_statement(doc: dict[str, str], name: str) -> dict[str, object]:
    """The statement as a JSON value, written out field by field from the document's inputs."""
    common = {"v": 1, "attachments": []}
    if name == "register":
        return {
            **common,
            "kind": "key.register",
            "subject": "household:H001",
            "key": doc["key.authority.key_id"],
            "time": "2026-03-01T07:00:00Z",
            "body": {"public_key": doc["key.household.public_base64"], "label": LABEL},
        }
    if name == "harvest":
        return {
            **common,
            "kind": "step.harvest",
            "subject": "batch:BPT-2026-001",
            "key": doc["key.household.key_id"],
            "time": "2026-03-01T07:30:00Z",
            "body": {"quantity_kg": 120, "product": PRODUCT},
            "attachments": [doc["input.photo"]],
        }
    return {
        **common,
        "kind": "step.pack",
        "subject": "batch:BPT-2026-001",
        "key": doc["key.household.key_id"],
        "time": "2026-03-01T09:15:00.5Z",
        "body": {"weight_kg": 118.5, "boxes": 6},
    }


@pytest.mark.parametrize("name", STATEMENT_NAMES)
def test_independent_statements(doc: dict[str, str], name: str) -> None:
    signer = {"register": "authority", "harvest": "household", "pack": "household"}[name]
    obj = documented_statement(doc, name)
    canonical = bytes.fromhex(doc[f"statement.{name}.canonical_hex"])
    assert rfc8785.dumps(obj) == canonical
    # For these values (ASCII keys, no float edge cases) JCS coincides with sorted compact JSON.
    compact = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert compact.encode() == canonical
    message = b"goc/statement/v1\n" + canonical
    assert doc[f"statement.{name}.digest"] == hashlib.sha256(message).hexdigest()
    signature = bytes.fromhex(doc[f"statement.{name}.signature"])
    Ed25519PublicKey.from_public_bytes(raw_public(SEEDS[signer])).verify(signature, message)
    assert Ed25519PrivateKey.from_private_bytes(SEEDS[signer]).sign(message) == signature
    assert doc["input.photo"] == hashlib.sha256(b"goc example photo").hexdigest()


def test_independent_entries(doc: dict[str, str]) -> None:
    zero = "00" * 32
    expected_links = [
        (zero, zero),
        (doc["entry.0.hash"], zero),  # the batch's first entry
        (doc["entry.1.hash"], doc["entry.1.hash"]),  # follows entry 1 globally and on the batch
    ]
    for seq, name in enumerate(STATEMENT_NAMES):
        e = f"entry.{seq}"
        received = int(doc[f"{e}.received_micros"])
        moment = datetime.fromisoformat(doc[f"{e}.received"].replace("Z", "+00:00"))
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        assert received == (moment - epoch) // timedelta(microseconds=1)
        assert (doc[f"{e}.prev_hash"], doc[f"{e}.subject_prev_hash"]) == expected_links[seq]
        preimage = (
            b"goc/entry/v1\n"
            + seq.to_bytes(8, "big")
            + received.to_bytes(8, "big")
            + bytes.fromhex(doc[f"{e}.prev_hash"])
            + bytes.fromhex(doc[f"{e}.subject_prev_hash"])
            + bytes.fromhex(doc[f"statement.{name}.digest"])
            + bytes.fromhex(doc[f"statement.{name}.signature"])
        )
        assert len(preimage) == 13 + 8 + 8 + 32 + 32 + 32 + 64 == 189
        assert doc[f"{e}.preimage"] == preimage.hex()
        entry_hash = hashlib.sha256(preimage).digest()
        assert doc[f"{e}.hash"] == entry_hash.hex()
        assert doc[f"{e}.leaf_hash"] == hashlib.sha256(b"\x00" + entry_hash).hexdigest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 over already-hashed leaves, written out recursively."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(m, D[n]), leaf sibling first."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 section 2.1.2 SUBPROOF(m, D[n], b)."""
    if m == len(leaves):
        return [] if complete else [mth(leaves)]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def test_independent_tree_checkpoints_and_proofs(doc: dict[str, str]) -> None:
    leaves = [bytes.fromhex(doc[f"entry.{i}.leaf_hash"]) for i in range(3)]
    node = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    assert doc["tree.node.1.0"] == node.hex()
    assert doc["tree.root.1"] == leaves[0].hex() == mth(leaves[:1]).hex()
    root = hashlib.sha256(b"\x01" + node + leaves[2]).digest()
    assert doc["tree.root.3"] == root.hex() == mth(leaves).hex()

    log_seed, log_public = SEEDS["log"], raw_public(SEEDS["log"])
    note_id = hashlib.sha256(b"goc.example/log\n\x01" + log_public).digest()[:4]
    for size, size_root in [(1, leaves[0]), (3, root)]:
        text = f"goc.example/log\n{size}\n{b64(size_root)}\n"
        signature = bytes.fromhex(doc[f"checkpoint.{size}.signature"])
        Ed25519PublicKey.from_public_bytes(log_public).verify(signature, text.encode())
        assert Ed25519PrivateKey.from_private_bytes(log_seed).sign(text.encode()) == signature
        line = "\u2014 goc.example/log " + b64(note_id + signature) + "\n"
        assert doc[f"checkpoint.{size}.note"] == text + "\n" + line

    for seq in range(3):
        assert hashes(doc[f"proof.inclusion.{seq}"]) == path(seq, leaves)
    assert hashes(doc["proof.consistency.1.3"]) == subproof(1, leaves, True) == leaves[1:]


def test_independent_bundles(doc: dict[str, str]) -> None:
    def lines(label: str) -> list[dict[str, object]]:
        text = doc[label]
        assert text.endswith("\n") and "\n\n" not in text
        return [json.loads(line) for line in text.splitlines()]

    def check_entry(line: dict[str, object], seq: int) -> None:
        name = STATEMENT_NAMES[seq]
        e = f"entry.{seq}"
        assert line["seq"] == seq
        assert line["received"] == int(doc[f"{e}.received_micros"])
        assert line["prev"] == doc[f"{e}.prev_hash"]
        assert line["subject_prev"] == doc[f"{e}.subject_prev_hash"]
        assert line["hash"] == doc[f"{e}.hash"]
        canonical = bytes.fromhex(doc[f"statement.{name}.canonical_hex"])
        assert base64.b64decode(str(line["statement"]), validate=True) == canonical
        signature = base64.b64decode(str(line["signature"]), validate=True)
        assert signature.hex() == doc[f"statement.{name}.signature"]

    log = lines("bundle.log")
    assert log[0] == {"format": "goc-ledger-bundle/v1", "scope": "log", "origin": ORIGIN}
    assert [line["type"] for line in log[1:]] == [
        "entry",
        "checkpoint",
        "entry",
        "entry",
        "checkpoint",
    ]
    for line, seq in [(log[1], 0), (log[3], 1), (log[4], 2)]:
        assert set(line) == {"type", "seq", "received", "prev", "subject_prev"} | {
            "statement",
            "signature",
            "hash",
        }
        check_entry(line, seq)
    assert log[2]["note"] == doc["checkpoint.1.note"]
    assert log[5]["note"] == doc["checkpoint.3.note"]

    subject = lines("bundle.subject")
    assert subject[0] == {
        "format": "goc-ledger-bundle/v1",
        "scope": "subject",
        "origin": ORIGIN,
        "subject": BATCH,
    }
    assert subject[1] == {"type": "checkpoint", "note": doc["checkpoint.3.note"]}
    for seq, line in enumerate(subject[2:]):
        assert line["type"] == "entry"
        check_entry(line, seq)
        assert line["proof"] == [h.hex() for h in hashes(doc[f"proof.inclusion.{seq}"])]


# -- 3. published vectors -------------------------------------------------------------------
# C2SP signed-note.md (HEAD 5ba5ee83), "vector 1" of the reference notes.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_TEXT = "This is an example message.\n"
C2SP_LINE = (
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mF"
    "XmRKuwHjG1Yu72IneyaQM=\n"
)
# golang/mod sumdb/note/note.go (605edab4) package documentation, "vector 2".
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_LINE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot"
    "pRZb6KE6RyyBwJnAM=\n"
)
# Worked checkpoint (reference section 1.5): RFC 8032 section 7.1 TEST 1 key, origin
# example.com/ledger, over the 8 transparency-dev/merkle test leaves (testonly/constants.go).
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TD_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
TD_LEAVES.append("606162636465666768696a6b6c6d6e6f")
TD_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
WORKED_VKEY = "example.com/ledger+60db519f+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
WORKED_SKEY = "PRIVATE+KEY+example.com/ledger+60db519f+AZ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
WORKED_NOTE = (
    "example.com/ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
    "\u2014 example.com/ledger YNtRn2gzE9LAJwGMgl/BVkntTh9PpiPy/kV5jU1IrHQ8tEC00JHqKCIoEpwgkM2AgFam"
    "iFXF1o00jTDXQucFLBEpCgc=\n"
)
# C2SP tlog-checkpoint.md example (no key published: parsing only).
SOFA_NOTE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def test_c2sp_signed_note_vector() -> None:
    verifier = NoteVerifier.from_vkey(C2SP_VKEY)
    assert verifier.name == "example.com/foo"
    assert f"{verifier.key_id:08x}" == "530d903a"
    assert verifier.vkey() == C2SP_VKEY
    note = SignedNote.parse(C2SP_TEXT + "\n" + C2SP_LINE)
    assert note.text == C2SP_TEXT
    assert len(note.signatures) == 1 and len(note.signatures[0].signature) == 64
    note.verify(verifier)
    assert note.render() == C2SP_TEXT + "\n" + C2SP_LINE
    # A flipped byte of the text no longer verifies.
    with pytest.raises(CheckpointError, match="does not verify"):
        SignedNote(C2SP_TEXT.replace("example", "exemple"), note.signatures).verify(verifier)


def test_go_note_signer_vector() -> None:
    signer = NoteSigner.from_skey(GO_SKEY)  # its base64 part contains a '+'
    assert signer.name == "PeterNeumann"
    assert signer.skey() == GO_SKEY
    assert signer.verifier.vkey() == GO_VKEY
    assert NoteVerifier.from_vkey(GO_VKEY) == signer.verifier
    signature = NoteSignature(signer.name, signer.verifier.key_id, signer.sign(GO_TEXT.encode()))
    assert signature.line() == GO_LINE
    SignedNote.parse(GO_TEXT + "\n" + GO_LINE).verify(signer.verifier)


def test_worked_checkpoint_vector() -> None:
    signer = NoteSigner.from_seed("example.com/ledger", RFC8032_SEED)
    assert signer.public_key.hex() == RFC8032_PUBLIC
    assert signer.verifier.vkey() == WORKED_VKEY
    assert signer.skey() == WORKED_SKEY
    assert NoteSigner.from_skey(WORKED_SKEY).public_key == signer.public_key
    assert NoteVerifier.from_vkey(WORKED_VKEY) == signer.verifier  # base64 contains a '+'
    root = root_from_leaves(leaf_hash(bytes.fromhex(h)) for h in TD_LEAVES)
    assert root.hex() == TD_ROOT_8
    assert Checkpoint("example.com/ledger", 8, root).sign(signer) == WORKED_NOTE
    assert Checkpoint.verify_note(WORKED_NOTE, signer.verifier) == Checkpoint(
        "example.com/ledger", 8, root
    )


def test_c2sp_checkpoint_example_parses() -> None:
    note = SignedNote.parse(SOFA_NOTE)
    checkpoint = Checkpoint.from_text(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert f"{note.signatures[0].key_id:08x}" == "033de0ae"
    assert len(note.signatures[0].signature) == 64


def test_vector_proofs_verify_with_the_library(doc: dict[str, str]) -> None:
    root = bytes.fromhex(doc["tree.root.3"])
    for seq in range(3):
        leaf = bytes.fromhex(doc[f"entry.{seq}.leaf_hash"])
        verify_inclusion(seq, 3, leaf, hashes(doc[f"proof.inclusion.{seq}"]), root)
    verify_consistency(
        1, 3, bytes.fromhex(doc["tree.root.1"]), root, hashes(doc["proof.consistency.1.3"])
    )

"""The public audit API under /ledger: checkpoints, keys, entry pages, proofs that verify with
the ledger's own verifiers, errors naming the bad parameter, the streamed whole-log export, and
offline verification of downloaded bundles with ``python -m ledger verify``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.context import goc
from ledger import Checkpoint, NoteSigner, NoteVerifier
from ledger.bundle import iter_subject_bundle
from ledger.cli import main as ledger_cli
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from tests.batches import batch_with_steps
from tests.support import HOUSEHOLD_PHONES

HARVEST = ("harvest", {"quantity": "120.5", "note": "Hái sáng sớm"})
PACKING = ("packing", {"pack_size": "5", "pack_count": 24})


@pytest.fixture
def batch_code(app: Any) -> str:
    with app.app_context():
        return batch_with_steps(HOUSEHOLD_PHONES[0], [HARVEST, PACKING])


def keys(client: Any) -> tuple[str, list[str]]:
    log_key = client.get("/ledger/key").get_data(as_text=True).strip()
    return log_key, client.get("/ledger/authority-keys").json["keys"]


def all_checkpoints(client: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    url = "/ledger/checkpoints?limit=2"
    while True:
        page = client.get(url).json
        found += page["checkpoints"]
        if page["next_after"] is None:
            return found
        url = f"/ledger/checkpoints?limit=2&after={page['next_after']}"


def test_latest_checkpoint_is_a_signed_note_under_the_published_key(
    app: Any, client: Any, batch_code: str
) -> None:
    response = client.get("/ledger/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    log_key, authority = keys(client)
    checkpoint = Checkpoint.verify_note(
        response.get_data(as_text=True), NoteVerifier.from_vkey(log_key)
    )
    with app.app_context():
        assert checkpoint.size == goc().ledger.size()
        assert checkpoint.root == goc().ledger.root(checkpoint.size)
        assert log_key == goc().ledger.log_signer.verifier.vkey()
        assert authority == [goc().authority.verifier.vkey()]


def test_checkpoints_page_in_increasing_size_and_each_note_matches(
    client: Any, batch_code: str
) -> None:
    log_key = NoteVerifier.from_vkey(keys(client)[0])
    found = all_checkpoints(client)
    sizes = [c["size"] for c in found]
    assert sizes == sorted(sizes) and len(sizes) == len(set(sizes)) >= 5
    for item in found:
        checkpoint = Checkpoint.verify_note(item["note"], log_key)
        assert (checkpoint.size, checkpoint.root.hex()) == (item["size"], item["root"])
    after = client.get(f"/ledger/checkpoints?after={sizes[1]}").json["checkpoints"]
    assert [c["size"] for c in after] == sizes[2:]


def test_entries_page_through_the_whole_log(app: Any, client: Any, batch_code: str) -> None:
    seen: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = client.get(f"/ledger/entries?start={start}&limit=3").json
        seen += page["entries"]
        start = page["next_start"]
    with app.app_context():
        stored = goc().ledger.entries(0, 1000)
    assert [e["seq"] for e in seen] == list(range(len(stored)))
    assert [e["hash"] for e in seen] == [e.hash.hex() for e in stored]
    assert client.get(f"/ledger/entries?start={len(stored)}").json == {
        "entries": [],
        "next_start": None,
    }


def test_every_inclusion_proof_verifies_against_the_checkpoint_root(
    client: Any, batch_code: str
) -> None:
    checkpoint = all_checkpoints(client)[-1]
    size = checkpoint["size"]
    entries = client.get(f"/ledger/entries?limit={size}").json["entries"]
    for index in range(size):
        response = client.get(f"/ledger/proof/inclusion?index={index}&size={size}")
        assert response.status_code == 200
        body = response.json
        assert body["root"] == checkpoint["root"]
        leaf = leaf_hash(bytes.fromhex(entries[index]["hash"]))
        assert body["leaf_hash"] == leaf.hex()
        proof = [bytes.fromhex(h) for h in body["proof"]]
        verify_inclusion(index, size, leaf, proof, bytes.fromhex(checkpoint["root"]))


def test_consistency_proofs_link_every_pair_of_checkpoints(client: Any, batch_code: str) -> None:
    found = all_checkpoints(client)
    for old in found:
        for new in found:
            if old["size"] > new["size"]:
                continue
            body = client.get(f"/ledger/proof/consistency?from={old['size']}&to={new['size']}").json
            assert (body["from"], body["to"]) == (old["size"], new["size"])
            verify_consistency(
                old["size"],
                new["size"],
                bytes.fromhex(old["root"]),
                bytes.fromhex(new["root"]),
                [bytes.fromhex(h) for h in body["proof"]],
            )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/ledger/checkpoints?after=abc", "after"),
        ("/ledger/checkpoints?after=-1", "after"),
        ("/ledger/checkpoints?limit=0", "limit"),
        ("/ledger/entries?start=-5", "start"),
        ("/ledger/entries?limit=1001", "limit"),
        ("/ledger/proof/inclusion?size=3", "index"),
        ("/ledger/proof/inclusion?index=0", "size"),
        ("/ledger/proof/inclusion?index=3&size=3", "index"),
        ("/ledger/proof/inclusion?index=0&size=0", "size"),
        ("/ledger/proof/inclusion?index=0&size=100000", "size"),
        ("/ledger/proof/consistency?from=2", "to"),
        ("/ledger/proof/consistency?from=0&to=2", "from"),
        ("/ledger/proof/consistency?from=3&to=2", "from"),
        ("/ledger/proof/consistency?from=1&to=100000", "to"),
    ],
)
def test_a_bad_parameter_gets_a_400_naming_it(client: Any, query: str, field: str) -> None:
    response = client.get(query)
    assert response.status_code == 400
    assert response.is_json
    assert list(response.json["errors"]) == [field]


def test_the_export_is_streamed_and_verifies_offline(
    app: Any, client: Any, batch_code: str, tmp_path: Path
) -> None:
    response = client.get("/ledger/export")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "application/x-ndjson"
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(response.get_data())
    log_key, authority = keys(client)
    argv = ["verify", str(path), "--log-key", log_key, "--workers", "0"]
    for key in authority:
        argv += ["--authority-key", key]
    assert ledger_cli(argv) == 0
    with app.app_context():
        size = goc().ledger.size()
    assert f'attachment; filename="ledger-{size}.jsonl"' == response.headers["Content-Disposition"]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["type"] == "checkpoint"
    assert sum(json.loads(line).get("type") == "entry" for line in lines) == size

    # A tampered bundle fails, loudly and with status 1.
    tampered = path.read_text(encoding="utf-8").replace(
        '"seq":3,"received":', '"seq":3,"received":1', 1
    )
    path.write_text(tampered, encoding="utf-8")
    assert ledger_cli(argv) == 1


def test_appends_while_the_export_streams_do_not_tear_it(
    app: Any, client: Any, batch_code: str, tmp_path: Path
) -> None:
    with app.app_context():
        size = goc().ledger.size()
    response = client.get("/ledger/export", buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    with app.app_context():
        batch_with_steps(HOUSEHOLD_PHONES[1], [HARVEST])
        assert goc().ledger.size() > size
    body = (first if isinstance(first, str) else first.decode()) + "".join(
        c if isinstance(c, str) else c.decode() for c in chunks
    )
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[-1]["type"] == "checkpoint"
    assert Checkpoint.from_text(lines[-1]["note"].split("\n\n")[0] + "\n").size == size
    assert [x["seq"] for x in lines if x.get("type") == "entry"] == list(range(size))


def test_a_batch_bundle_verifies_offline(
    app: Any, client: Any, batch_code: str, tmp_path: Path
) -> None:
    path = tmp_path / "batch.jsonl"
    with app.app_context():
        ledger = goc().ledger
        path.write_text("".join(iter_subject_bundle(ledger, ledger.origin, f"batch:{batch_code}")))
    log_key, authority = keys(client)
    argv = ["verify", str(path), "--log-key", log_key, "--workers", "0"]
    for key in authority:
        argv += ["--authority-key", key]
    assert ledger_cli(argv) == 0
    # The offline check trusts only the keys given: another log's key fails.
    impostor = NoteSigner.generate(NoteVerifier.from_vkey(log_key).name).verifier.vkey()
    assert ledger_cli([*argv[:3], impostor, *argv[4:]]) == 1


def test_the_audit_api_is_in_the_openapi_document(client: Any) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/api/openapi.json").json
    validate(spec)
    for path in (
        "/ledger/checkpoint",
        "/ledger/key",
        "/ledger/authority-keys",
        "/ledger/checkpoints",
        "/ledger/entries",
        "/ledger/proof/inclusion",
        "/ledger/proof/consistency",
        "/ledger/export",
    ):
        assert "get" in spec["paths"][path], path
    inclusion = spec["paths"]["/ledger/proof/inclusion"]["get"]
    assert {p["name"] for p in inclusion["parameters"]} == {"index", "size"}
    assert "400" in inclusion["responses"]

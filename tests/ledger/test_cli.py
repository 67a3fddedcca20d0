"""``python -m ledger`` as users run it (a subprocess), and bundles read and verified in-process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ledger import (
    BundleReader,
    ChainError,
    LogReader,
    MalformedError,
    NoteSigner,
    NoteVerifier,
    ProofError,
    ProvenEntry,
    iter_log_bundle,
    iter_subject_bundle,
)
from ledger.bundle import FORMAT
from tests.ledger.test_tamper import LOT1, LOT2, SIZE, Built, build_log, tamper_flip_digit
from tests.support import ORIGIN, ROOT, Fixture, seeded_signer


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def keys(log: Fixture | None = None) -> list[str]:
    """The trust roots of ``log``; without one, those every test Fixture uses."""
    log_key = log.log_key if log else seeded_signer(ORIGIN, 1)
    authority = log.authority if log else seeded_signer("goc.test/authority", 2)
    return ["--log-key", log_key.verifier.vkey(), "--authority-key", authority.verifier.vkey()]


def expected_line(log: Fixture) -> str:
    return log.verifier().verify_log(log.ledger.iter_log()).line()


def export(database_url: str, path: Path, *extra: str) -> Path:
    result = run("export", database_url, str(path), *extra)
    assert (result.returncode, result.stderr) == (0, "")
    return path


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_lines(path: Path, objects: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
    return path


@pytest.fixture
def built(log: Fixture) -> Built:
    return build_log(log)


class TestKeygen:
    def test_prints_a_matching_skey_and_vkey(self) -> None:
        result = run("keygen", "goc.example/hamlet")
        assert (result.returncode, result.stderr) == (0, "")
        skey, vkey = result.stdout.splitlines()
        signer = NoteSigner.from_skey(skey)
        verifier = NoteVerifier.from_vkey(vkey)
        assert skey.startswith("PRIVATE+KEY+goc.example/hamlet+")
        assert signer.name == verifier.name == "goc.example/hamlet"
        assert signer.verifier == verifier
        assert verifier.verify(signer.sign(b"message"), b"message")

    def test_keys_are_fresh(self) -> None:
        first, second = run("keygen", "k").stdout, run("keygen", "k").stdout
        assert first.splitlines()[1] != second.splitlines()[1]

    def test_invalid_name(self) -> None:
        result = run("keygen", "bad+name")
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.startswith("error: key name")


class TestUsage:
    def test_no_command(self) -> None:
        result = run()
        assert result.returncode == 2
        assert result.stderr.startswith("usage: python -m ledger")
        assert "required: command" in result.stderr

    def test_verify_without_keys(self, tmp_path: Path) -> None:
        result = run("verify", str(tmp_path / "bundle.jsonl"))
        assert result.returncode == 2
        assert "usage: python -m ledger verify" in result.stderr
        assert "the following arguments are required: --log-key, --authority-key" in result.stderr

    def test_export_without_output(self) -> None:
        result = run("export", "sqlite:///nowhere.db")
        assert result.returncode == 2
        assert "required: output" in result.stderr

    def test_malformed_key(self, tmp_path: Path) -> None:
        args = ["--log-key", "not-a-key", "--authority-key", "neither"]
        result = run("verify", str(tmp_path / "none.jsonl"), *args)
        assert result.returncode == 2
        assert result.stderr.startswith("error: verifier key must be")


class TestVerifyDatabase:
    @pytest.mark.parametrize("workers", ["0", "2"])
    def test_ok(self, log: Fixture, built: Built, database_url: str, workers: str) -> None:
        result = run("verify", database_url, *keys(log), "--workers", workers)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == expected_line(log) + "\n"
        assert result.stdout.startswith(f"OK: {SIZE} entries, 4 subjects, latest checkpoint ")
        assert f" size {SIZE} root " in result.stdout

    def test_tampered(self, log: Fixture, built: Built, database_url: str) -> None:
        seq = tamper_flip_digit(log)
        result = run("verify", database_url, *keys(log))
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith(f"FAIL: seq {seq}: statement signature does not verify")

    def test_wrong_log_key(self, log: Fixture, built: Built, database_url: str) -> None:
        impostor = seeded_signer(log.log_key.name, 77).verifier.vkey()
        args = ["--log-key", impostor, "--authority-key", log.authority.verifier.vkey()]
        result = run("verify", database_url, *args)
        assert result.returncode == 1
        assert result.stderr.startswith("FAIL: seq 0, checkpoint size 1: ")
        assert "no signature by the log key" in result.stderr

    def test_wrong_authority_key(self, log: Fixture, built: Built, database_url: str) -> None:
        other = seeded_signer("goc.test/authority", 78).verifier.vkey()
        args = ["--log-key", log.log_key.verifier.vkey(), "--authority-key", other]
        result = run("verify", database_url, *args)
        assert result.returncode == 1
        assert result.stderr.startswith("FAIL: seq 0: signing key is not registered")


class TestExport:
    def test_whole_log_bundle_verifies_offline(
        self, log: Fixture, built: Built, database_url: str, tmp_path: Path
    ) -> None:
        bundle = export(database_url, tmp_path / "log.jsonl")
        objects = lines(bundle)
        assert objects[0] == {"format": FORMAT, "scope": "log", "origin": log.log_key.name}
        assert [o["type"] for o in objects[1:]] == ["entry", "checkpoint"] * SIZE
        result = run("verify", str(bundle), *keys(log))
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == expected_line(log) + "\n"

    @pytest.mark.parametrize(("subject", "own", "seqs"), [(LOT1, 4, [0, 2, 4, 6, 8])])
    def test_subject_bundle_verifies(
        self,
        log: Fixture,
        built: Built,
        database_url: str,
        tmp_path: Path,
        subject: str,
        own: int,
        seqs: list[int],
    ) -> None:
        bundle = export(database_url, tmp_path / "lot.jsonl", "--subject", subject)
        objects = lines(bundle)
        assert objects[0]["subject"] == subject and objects[0]["scope"] == "subject"
        assert objects[1] == {"type": "checkpoint", "note": log.ledger.checkpoint(SIZE).note}
        assert [o["seq"] for o in objects[2:]] == seqs
        assert all(isinstance(o["proof"], list) for o in objects[2:])
        result = run("verify", str(bundle), *keys(log), "--workers", "0")
        assert (result.returncode, result.stderr) == (0, "")
        root = result.stdout.split(" root ")[1].strip()
        assert result.stdout.startswith(f"OK: {own} entries, 1 subjects, latest checkpoint ")
        assert expected_line(log).endswith(f" root {root}")

    def test_subject_bundle_carries_its_keys_history(
        self, log: Fixture, built: Built, database_url: str, tmp_path: Path
    ) -> None:
        # lot:H002-1's signer was revoked and replaced: the bundle carries all three key entries
        bundle = export(database_url, tmp_path / "lot2.jsonl", "--subject", LOT2)
        assert [o["seq"] for o in lines(bundle)[2:]] == [1, 3, 5, 7, 9, 10, 11]
        result = run("verify", str(bundle), *keys(log))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("OK: 4 entries, 1 subjects")

    def test_unknown_subject(
        self, log: Fixture, built: Built, database_url: str, tmp_path: Path
    ) -> None:
        result = run("export", database_url, str(tmp_path / "x.jsonl"), "--subject", "lot:none")
        assert result.returncode == 2
        assert "no entries for subject 'lot:none'" in result.stderr

    def test_tampered_log_bundle_fails(
        self, log: Fixture, built: Built, database_url: str, tmp_path: Path
    ) -> None:
        seq = tamper_flip_digit(log)
        bundle = export(database_url, tmp_path / "log.jsonl")
        result = run("verify", str(bundle), *keys(log))
        assert result.returncode == 1
        assert result.stderr.startswith(f"FAIL: seq {seq}: ")

    def test_bundle_of_another_log(
        self, log: Fixture, built: Built, database_url: str, tmp_path: Path
    ) -> None:
        bundle = export(database_url, tmp_path / "log.jsonl")
        other = seeded_signer("goc.test/other-log", 1).verifier.vkey()
        result = run("verify", str(bundle), "--log-key", other, *keys(log)[2:])
        assert result.returncode == 1
        assert "bundle is from log 'goc.test/log', not this log" in result.stderr


class TestUnreadableBundle:
    def test_not_a_bundle(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.txt"
        path.write_text("hello\n", encoding="utf-8")
        result = run("verify", str(path), *keys())
        assert result.returncode == 2
        assert result.stderr == "error: bundle line 1: not JSON\n"

    def test_wrong_format(self, tmp_path: Path) -> None:
        path = write_lines(tmp_path / "b.jsonl", [{"format": "other/v9", "scope": "log"}])
        result = run("verify", str(path), *keys())
        assert result.returncode == 2
        assert result.stderr == f"error: not a {FORMAT} bundle\n"

    def test_missing_file(self, tmp_path: Path) -> None:
        result = run("verify", str(tmp_path / "absent.jsonl"), *keys())
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and "absent.jsonl" in result.stderr


# the bundle's contents do not depend on the backend: one is enough
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
class TestMalformedBundle:
    @pytest.fixture
    def bundle(self, log: Fixture, built: Built, tmp_path: Path) -> list[dict[str, object]]:
        text = "".join(iter_log_bundle(LogReader(log.engine), log.log_key.name))
        return [json.loads(line) for line in text.splitlines()]

    def test_garbled_line(
        self, log: Fixture, bundle: list[dict[str, object]], tmp_path: Path
    ) -> None:
        path = write_lines(tmp_path / "b.jsonl", bundle)
        text = path.read_text(encoding="utf-8").splitlines(keepends=True)
        text[5] = text[5][: len(text[5]) // 2] + "\n"  # a half-written entry line
        path.write_text("".join(text), encoding="utf-8")
        result = run("verify", str(path), *keys(log))
        assert result.returncode == 2
        assert result.stderr == "error: bundle line 6: not JSON\n"

    def test_entry_line_with_a_bad_field(
        self, log: Fixture, bundle: list[dict[str, object]], tmp_path: Path
    ) -> None:
        bundle[5] = {**bundle[5], "prev": "zz"}
        assert bundle[5]["type"] == "entry"
        result = run("verify", str(write_lines(tmp_path / "b.jsonl", bundle)), *keys(log))
        assert result.returncode == 2
        assert result.stderr == "error: bundle line 6: prev: expected 64 lowercase hex digits\n"

    def test_in_process_a_bad_line_is_a_malformed_bundle_not_a_failed_check(
        self, log: Fixture, bundle: list[dict[str, object]]
    ) -> None:
        bundle[7] = {**bundle[7], "signature": "not base64!"}
        reader = BundleReader(io.StringIO("".join(json.dumps(o) + "\n" for o in bundle)))
        with pytest.raises(MalformedError, match=r"^bundle line 8: signature: invalid base64$"):
            log.verifier(workers=2).verify_log(reader.items())  # type: ignore[arg-type]

    def test_unknown_line_type(
        self, log: Fixture, bundle: list[dict[str, object]], tmp_path: Path
    ) -> None:
        bundle.insert(3, {"type": "comment"})
        result = run("verify", str(write_lines(tmp_path / "b.jsonl", bundle)), *keys(log))
        assert result.returncode == 2
        assert result.stderr == "error: bundle line 4: unknown line type 'comment'\n"

    def test_malformed_checkpoint_note(
        self, log: Fixture, bundle: list[dict[str, object]], tmp_path: Path
    ) -> None:
        assert bundle[4]["type"] == "checkpoint"  # the note after entry 1: tree size 2
        bundle[4] = {"type": "checkpoint", "note": "goc.test/log\n2\n"}
        result = run("verify", str(write_lines(tmp_path / "b.jsonl", bundle)), *keys(log))
        assert result.returncode == 1
        assert result.stderr.startswith("FAIL: seq 2: malformed checkpoint: ")

    def test_subject_bundle_entry_without_proof(
        self, log: Fixture, built: Built, tmp_path: Path
    ) -> None:
        text = "".join(iter_subject_bundle(LogReader(log.engine), log.log_key.name, LOT1))
        objects = [json.loads(line) for line in text.splitlines()]
        del objects[3]["proof"]
        result = run("verify", str(write_lines(tmp_path / "s.jsonl", objects)), *keys(log))
        assert result.returncode == 1
        assert result.stderr == "FAIL: a subject bundle's entries must carry proofs\n"

    def test_subject_bundle_with_a_malformed_proof(
        self, log: Fixture, built: Built, tmp_path: Path
    ) -> None:
        text = "".join(iter_subject_bundle(LogReader(log.engine), log.log_key.name, LOT1))
        objects = [json.loads(line) for line in text.splitlines()]
        objects[4]["proof"][0] = "00"
        result = run("verify", str(write_lines(tmp_path / "s.jsonl", objects)), *keys(log))
        assert result.returncode == 2
        assert result.stderr == "error: bundle line 5: proof: expected 64 lowercase hex digits\n"


def read_subject_bundle(log: Fixture, subject: str) -> tuple[str, list[ProvenEntry]]:
    text = "".join(iter_subject_bundle(LogReader(log.engine), log.log_key.name, subject))
    reader = BundleReader(io.StringIO(text))
    assert reader.header.scope == "subject" and reader.header.subject == subject
    items = list(reader.items())
    note, proven = items[0], items[1:]
    assert isinstance(note, str)
    assert all(isinstance(p, ProvenEntry) for p in proven)
    return note, proven  # type: ignore[return-value]


class TestSubjectBundleInProcess:
    def test_verifies(self, log: Fixture, built: Built) -> None:
        note, proven = read_subject_bundle(log, LOT1)
        summary = log.verifier().verify_subject(LOT1, note, proven)
        assert summary.entries == 4
        assert summary.checkpoint is not None and summary.checkpoint.size == SIZE

    @pytest.mark.parametrize("which", [0, -1])
    def test_altered_proof(self, log: Fixture, built: Built, which: int) -> None:
        note, proven = read_subject_bundle(log, LOT1)
        target = next(i for i, p in enumerate(proven) if p.entry.seq == 4)
        proof = list(proven[target].proof)
        proof[which] = bytes([proof[which][0] ^ 0x80]) + proof[which][1:]
        proven[target] = replace(proven[target], proof=tuple(proof))
        with pytest.raises(ProofError, match="not included in the checkpoint") as info:
            log.verifier().verify_subject(LOT1, note, proven)
        assert info.value.seq == 4

    def test_shortened_proof(self, log: Fixture, built: Built) -> None:
        note, proven = read_subject_bundle(log, LOT1)
        target = next(i for i, p in enumerate(proven) if p.entry.seq == 6)
        proven[target] = replace(proven[target], proof=proven[target].proof[:-1])
        with pytest.raises(ProofError) as info:
            log.verifier().verify_subject(LOT1, note, proven)
        assert info.value.seq == 6

    def test_middle_subject_entry_removed(self, log: Fixture, built: Built) -> None:
        note, proven = read_subject_bundle(log, LOT1)
        assert [p.entry.seq for p in proven] == [0, 2, 4, 6, 8]
        del proven[2]  # seq 4, H001's second step
        with pytest.raises(ChainError, match="subject_prev_hash") as info:
            log.verifier().verify_subject(LOT1, note, proven)
        assert info.value.seq == 6

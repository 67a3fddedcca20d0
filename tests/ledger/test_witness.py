"""``python -m ledger witness`` against live HTTP servers: the app's own audit API for normal
operation, and small servers fed by real logs that rewrite history, fork or roll back."""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ledger import Checkpoint, CheckpointError, LogReader, NoteSigner
from ledger.checkpoint import NoteSignature
from ledger.cli import main as ledger_cli
from ledger.witness import (
    Witness,
    WitnessAlarm,
    cosign,
    cosigner_key_id,
    cosigner_vkey,
    verify_cosignature,
)
from tests.support import Fixture, migrate

WITNESS = NoteSigner.from_seed("witness.goc.test/w1", bytes([9]) * 32)


def grow(fixture: Fixture, owner: str, n: int, steps: int) -> None:
    """Register ``owner`` and append ``steps`` harvest steps of its batch."""
    household, _ = fixture.register(owner, n)
    for i in range(steps):
        fixture.step(household, f"batch:{n}", lot=f"L{i}")


@pytest.fixture
def other_log(tmp_path: Path) -> Iterator[Fixture]:
    """A second log under the same log key: what a dishonest operator could sign."""
    url = f"sqlite:///{tmp_path / 'fork.db'}"
    migrate(url)
    fixture = Fixture.create(url)
    yield fixture
    fixture.engine.dispose()


class LogServer:
    """Serves /ledger/checkpoint and /ledger/proof/consistency from whichever log (and, to
    roll back, whichever of its checkpoints) the test points it at."""

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self.size: int | None = None  # serve this checkpoint instead of the latest
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/ledger/checkpoint":
                    found = (
                        server.reader.latest_checkpoint()
                        if server.size is None
                        else server.reader.checkpoint(server.size)
                    )
                    assert found is not None
                    self._send(found.note, "text/plain")
                elif parts.path == "/ledger/proof/consistency":
                    query = {k: int(v[0]) for k, v in parse_qs(parts.query).items()}
                    proof = server.reader.consistency_proof(query["from"], query["to"])
                    body = {
                        "from": query["from"],
                        "to": query["to"],
                        "proof": [h.hex() for h in proof],
                    }
                    self._send(json.dumps(body), "application/json")
                else:
                    self.send_error(404)

            def _send(self, text: str, media_type: str) -> None:
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ledger"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LogServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def witness_cli(server_url: str, log: Fixture, state: Path, *extra: str) -> int:
    vkey = log.log_key.verifier.vkey()
    return ledger_cli(["witness", server_url, "--log-key", vkey, "--state", str(state), *extra])


def test_follows_an_honest_log_and_cosigns(
    log: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    grow(log, "household:A", 11, 3)
    with LogServer(log.ledger) as server:
        assert witness_cli(server.url, log, state, "--cosign", WITNESS.skey()) == 0
        first = capsys.readouterr()
        assert "trusted on first use" in first.err
        grow(log, "household:B", 12, 5)
        assert witness_cli(server.url, log, state, "--cosign", WITNESS.skey()) == 0
        second = capsys.readouterr()
        assert witness_cli(server.url, log, state) == 0  # nothing new: still fine
        assert "unchanged" in capsys.readouterr().err
    size = log.ledger.size()
    assert f"size {size}: consistent with size 4" in second.err
    # stdout is the cosigned note: the log's signature and the witness's cosignature.
    note = second.out
    assert Checkpoint.verify_note(note, log.log_key.verifier).size == size
    assert verify_cosignature(note, WITNESS.verifier) > 1_700_000_000
    files = {p.suffix for p in state.iterdir()}
    assert {".checkpoint", ".cosigned"} <= files
    assert not [p for p in state.iterdir() if p.name.startswith(".tmp-")]


def test_alarms_when_the_log_rewrites_history(
    log: Fixture, other_log: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    grow(log, "household:A", 11, 3)
    grow(other_log, "household:Z", 17, 6)  # a different history, longer, same log key
    with LogServer(log.ledger) as server:
        assert witness_cli(server.url, log, state) == 0
        seen = (state / next(p.name for p in state.glob("*.checkpoint"))).read_text()
        server.reader = other_log.ledger
        assert witness_cli(server.url, log, state) == 1
    err = capsys.readouterr().err
    assert "ALARM: HISTORY REWRITTEN: size 7 is not an extension of size 4" in err
    # The evidence is kept: the state still holds what the witness saw before.
    assert next(state.glob("*.checkpoint")).read_text() == seen


def test_alarms_on_a_split_view(
    log: Fixture, other_log: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two different checkpoints for the same size, shown to the same witness."""
    grow(log, "household:A", 11, 3)
    grow(other_log, "household:Z", 17, 3)
    assert log.ledger.size() == other_log.ledger.size()
    with LogServer(log.ledger) as server:
        assert witness_cli(server.url, log, tmp_path) == 0
        server.reader = other_log.ledger
        assert witness_cli(server.url, log, tmp_path) == 1
    assert "ALARM: SPLIT VIEW: two different roots for size 4" in capsys.readouterr().err


def test_alarms_on_a_rollback(
    log: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grow(log, "household:A", 11, 3)
    with LogServer(log.ledger) as server:
        server.size = 2  # an older, genuinely signed checkpoint
        assert witness_cli(server.url, log, tmp_path) == 0
        server.size = None
        assert witness_cli(server.url, log, tmp_path) == 0
        server.size = 3
        assert witness_cli(server.url, log, tmp_path) == 1
    assert "ALARM: ROLLBACK: the log now shows size 3, but this witness saw size 4" in (
        capsys.readouterr().err
    )


def test_alarms_on_a_checkpoint_under_another_key(
    log: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grow(log, "household:A", 11, 1)
    impostor = NoteSigner.generate(log.log_key.name)
    with LogServer(log.ledger) as server:
        assert (
            ledger_cli(
                [
                    "witness",
                    server.url,
                    "--log-key",
                    impostor.verifier.vkey(),
                    "--state",
                    str(tmp_path),
                ]
            )
            == 1
        )
    assert "ALARM: the log's checkpoint is not validly signed" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.checkpoint"))


def test_an_unreachable_log_is_an_error_not_an_alarm(
    log: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LogServer(log.ledger) as server:
        url = server.url
    assert witness_cli(url, log, tmp_path) == 2
    assert "error: GET" in capsys.readouterr().err


def test_follows_the_apps_audit_api(database_url: str, tmp_path: Path) -> None:
    """The witness against the real audit API, served over HTTP by the app."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.context import goc
    from app.extensions import db
    from tests.support import app_config

    app = create_app(app_config(database_url, tmp_path / "instance"))
    with app.app_context():
        ledger = goc().ledger
        log_key = ledger.log_signer.verifier
        fixture = Fixture(db.engine, ledger, ledger.log_signer, goc().authority)
        grow(fixture, "household:A", 11, 2)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        witness = Witness(f"http://127.0.0.1:{httpd.port}/ledger", log_key, tmp_path / "w")
        assert witness.observe().checkpoint.size == 3
        with app.app_context():
            grow(fixture, "household:B", 12, 4)
        seen = witness.observe()
        assert (seen.previous and seen.previous.size, seen.checkpoint.size) == (3, 8)
    finally:
        httpd.shutdown()
        with app.app_context():
            db.engine.dispose()


def test_cosignature_format() -> None:
    note = (
        "example.com/ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
        "— example.com/ledger YNtRn2gzE9LAJwGMgl/BVkntTh9PpiPy/kV5jU1IrHQ8tEC00JHqKCIoEpwgkM2AgFam"
        "iFXF1o00jTDXQucFLBEpCgc=\n"
    )
    cosigned = cosign(note, WITNESS, 1679315147)
    assert cosigned.startswith(note)
    line = cosigned[len(note) :]
    name, blob = line.removeprefix("— ").split()
    raw = base64.b64decode(blob)
    assert (name, len(raw)) == (WITNESS.name, 4 + 8 + 64)
    key_id, timestamp = struct.unpack(">IQ", raw[:12])
    assert key_id == cosigner_key_id(WITNESS.name, WITNESS.public_key) != WITNESS.verifier.key_id
    assert timestamp == 1679315147
    message = (
        b"cosignature/v1\ntime 1679315147\nexample.com/ledger\n8\n"
        + note.split("\n")[2].encode()
        + b"\n"
    )
    assert WITNESS.verifier.verify(raw[12:], message)
    assert verify_cosignature(cosigned, WITNESS.verifier) == 1679315147
    name, hex_id, key = cosigner_vkey(WITNESS.verifier).split("+", 2)
    assert (name, int(hex_id, 16)) == (WITNESS.name, key_id)
    assert base64.b64decode(key) == b"\x04" + WITNESS.public_key
    # Verifying the original note alone (no cosignature) or a forged one fails.
    with pytest.raises(CheckpointError):
        verify_cosignature(note, WITNESS.verifier)
    forged = cosigned.replace(blob, base64.b64encode(raw[:12] + bytes(64)).decode())
    with pytest.raises(CheckpointError):
        verify_cosignature(forged, WITNESS.verifier)


def test_cosignature_layout_matches_the_spec_example() -> None:
    """C2SP tlog-cosignature's example line starts ``jWbPPwAAAABkGFDL``: key ID 8d66cf3f, then the
    timestamp 1679315147 as a big-endian u64 (ledger-formats.md 1.7)."""
    line = NoteSignature(
        "witness.example.com/w1", 0x8D66CF3F, struct.pack(">Q", 1679315147) + bytes(64)
    ).line()
    assert line.startswith("— witness.example.com/w1 jWbPPwAAAABkGFDL")


def test_a_tampered_state_is_refused(log: Fixture, tmp_path: Path) -> None:
    grow(log, "household:A", 11, 1)
    with LogServer(log.ledger) as server:
        witness = Witness(server.url, log.log_key.verifier, tmp_path)
        witness.observe()
        state = witness.state_file
        text = state.read_text().replace("\n2\n", "\n1\n", 1)
        state.write_text(text)
        with pytest.raises(CheckpointError) as refused:
            witness.observe()
        assert not isinstance(refused.value, WitnessAlarm)

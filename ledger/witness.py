"""A witness: watches a log's audit API for rewritten history, and can cosign what it saw.

Each run fetches the latest checkpoint (``<url>/checkpoint``), checks the log's signature, and
compares it with the last checkpoint this witness accepted from that log (kept in ``state``):

- a smaller tree size is a **rollback**;
- the same size with another root is a **split view** (the log showed two different trees);
- a larger size needs a consistency proof (``<url>/proof/consistency?from=&to=``) that the old
  tree is a prefix of the new one; without it the log **rewrote history**.

Any of these raises :class:`WitnessAlarm` and leaves the state untouched. Otherwise the new
checkpoint is stored atomically (temporary file, fsync, rename, fsync of the folder) and, with a
cosigner key, cosigned in the C2SP tlog-cosignature format (Ed25519, signature type 0x04)::

    cosignature/v1
    time <POSIX seconds>
    <checkpoint text, extension lines included>

The signature line's blob is the 4-byte key ID, the 8-byte big-endian timestamp, then the
64-byte Ed25519 signature of that message. Pure standard library plus this package: urllib only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import struct
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import Checkpoint, NoteSignature, SignedNote
from .encoding import b64encode, hex32
from .errors import CheckpointError, LedgerError, MalformedError, ProofError, VerificationError
from .keys import NoteSigner, NoteVerifier
from .merkle import EMPTY_ROOT, verify_consistency

COSIGNATURE_ED25519 = 0x04
COSIGNATURE_LABEL = "cosignature/v1\n"
MAX_CHECKPOINT_BYTES = 64 * 1024
MAX_PROOF_BYTES = 1024 * 1024
TIMEOUT = 30.0


class WitnessAlarm(VerificationError):
    """The log contradicted what this witness saw before: rollback, split view or bad proof."""


class FetchError(LedgerError):
    """The log's audit API could not be reached or answered with an error."""


def cosigner_key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x04 || public key)[:4], big-endian (C2SP tlog-cosignature)."""
    digest = hashlib.sha256(
        name.encode() + b"\n" + bytes([COSIGNATURE_ED25519]) + public_key
    ).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def cosigner_vkey(cosigner: NoteVerifier) -> str:
    """The cosigner's verifier key string as C2SP writes it for type 0x04 (what others pin)."""
    key_id = cosigner_key_id(cosigner.name, cosigner.public_key)
    blob = b64encode(bytes([COSIGNATURE_ED25519]) + cosigner.public_key)
    return f"{cosigner.name}+{key_id:08x}+{blob}"


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"{COSIGNATURE_LABEL}time {timestamp}\n{checkpoint_text}".encode()


def cosign(note: str, signer: NoteSigner, timestamp: int) -> str:
    """``note`` with one more signature line: ``signer``'s cosignature at ``timestamp``."""
    if not 0 <= timestamp < 2**63:
        raise ValueError("cosignature timestamp must fit in 63 bits")
    signed = SignedNote.parse(note)
    signature = signer.sign(cosigned_message(signed.text, timestamp))
    line = NoteSignature(
        signer.name,
        cosigner_key_id(signer.name, signer.public_key),
        struct.pack(">Q", timestamp) + signature,
    )
    return SignedNote(signed.text, (*signed.signatures, line)).render()


def verify_cosignature(note: str, cosigner: NoteVerifier) -> int:
    """Check ``cosigner``'s cosignature on ``note``; return its timestamp."""
    signed = SignedNote.parse(note)
    key_id = cosigner_key_id(cosigner.name, cosigner.public_key)
    found = [s for s in signed.signatures if s.name == cosigner.name and s.key_id == key_id]
    if not found:
        raise CheckpointError(f"note carries no cosignature by {cosigner.name}")
    for sig in found:
        if len(sig.signature) != 8 + 64:
            raise MalformedError("a cosignature is an 8-byte timestamp and a 64-byte signature")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if not cosigner.verify(sig.signature[8:], cosigned_message(signed.text, timestamp)):
            raise CheckpointError(f"cosignature by {cosigner.name} does not verify")
    return int(struct.unpack(">Q", found[0].signature[:8])[0])


@dataclass(frozen=True)
class Observation:
    """One run's result: the checkpoint now trusted, what it was before, and the cosigned note."""

    checkpoint: Checkpoint
    previous: Checkpoint | None
    note: str
    cosigned: str | None

    def line(self) -> str:
        if self.previous is None:
            change = "first checkpoint seen (trusted on first use)"
        elif self.previous.size == self.checkpoint.size:
            change = "unchanged"
        else:
            change = f"consistent with size {self.previous.size}"
        return f"OK: {self.checkpoint.origin} size {self.checkpoint.size}: {change}"


class Witness:
    """Watches one log, identified by its verifier key, keeping its state in ``state_dir``."""

    def __init__(
        self,
        url: str,
        log_key: NoteVerifier,
        state_dir: Path,
        *,
        cosigner: NoteSigner | None = None,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the log's audit API URL must be http(s): {url!r}")
        self.url = url.rstrip("/")
        self.log_key = log_key
        self.state_dir = state_dir
        self.cosigner = cosigner

    @property
    def _state_name(self) -> str:
        # One file per log: hex SHA-256 of the origin, as C2SP tlog-witness names logs.
        return hashlib.sha256(self.log_key.name.encode()).hexdigest()

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{self._state_name}.checkpoint"

    @property
    def cosigned_file(self) -> Path:
        return self.state_dir / f"{self._state_name}.cosigned"

    def last_seen(self) -> Checkpoint | None:
        try:
            note = self.state_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        # The state is re-checked too: a witness must not trust a file someone edited.
        return Checkpoint.verify_note(note, self.log_key)

    def observe(self, *, now: int | None = None) -> Observation:
        """Fetch, check and record the latest checkpoint; raise WitnessAlarm on a contradiction.

        Runs sharing a state folder take turns (a file lock), so the check and the update are
        one step: two runs cannot both accept from the same old checkpoint.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / f"{self._state_name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._observe(now)

    def _observe(self, now: int | None) -> Observation:
        note = self._get("/checkpoint", limit=MAX_CHECKPOINT_BYTES)
        try:
            checkpoint = Checkpoint.verify_note(note, self.log_key)
        except VerificationError as exc:
            raise WitnessAlarm(f"the log's checkpoint is not validly signed: {exc}") from exc
        except MalformedError as exc:
            raise WitnessAlarm(f"the log served a malformed checkpoint: {exc}") from exc
        previous = self.last_seen()
        if previous is not None:
            self._check_consistent(previous, checkpoint)
        elif checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise WitnessAlarm("an empty tree's root must be SHA-256 of nothing")
        self._write_atomically(self.state_file, note)
        cosigned = None
        if self.cosigner is not None:
            cosigned = cosign(note, self.cosigner, int(time.time()) if now is None else now)
            self._write_atomically(self.cosigned_file, cosigned)
        return Observation(checkpoint, previous, note, cosigned)

    def _check_consistent(self, old: Checkpoint, new: Checkpoint) -> None:
        if new.size < old.size:
            raise WitnessAlarm(
                f"ROLLBACK: the log now shows size {new.size}, but this witness saw size "
                f"{old.size} before"
            )
        if new.size == old.size:
            if new.root != old.root:
                raise WitnessAlarm(
                    f"SPLIT VIEW: two different roots for size {new.size}: "
                    f"{old.root.hex()} seen before, {new.root.hex()} now"
                )
            return
        if old.size == 0:
            return  # the empty tree is a prefix of every tree
        body = self._get(f"/proof/consistency?from={old.size}&to={new.size}", limit=MAX_PROOF_BYTES)
        try:
            obj = json.loads(body)
            proof = [hex32(h, what="proof") for h in obj["proof"]]
            if (obj["from"], obj["to"]) != (old.size, new.size):
                raise MalformedError("the proof is for other sizes")
        except (ValueError, KeyError, TypeError, MalformedError) as exc:
            raise WitnessAlarm(f"the log served a malformed consistency proof: {exc}") from exc
        try:
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except ProofError as exc:
            raise WitnessAlarm(
                f"HISTORY REWRITTEN: size {new.size} is not an extension of size {old.size} "
                f"seen before ({exc})"
            ) from exc

    def _get(self, path: str, *, limit: int) -> str:
        url = self.url + path
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                data: bytes = response.read(limit + 1)
        except urllib.error.HTTPError as exc:
            raise FetchError(f"GET {url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FetchError(f"GET {url}: {exc}") from exc
        if len(data) > limit:
            raise FetchError(f"GET {url}: response larger than {limit} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FetchError(f"GET {url}: not UTF-8") from exc

    def _write_atomically(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename itself is durable only once the folder is synced.
        folder = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

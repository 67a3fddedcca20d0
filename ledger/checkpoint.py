"""C2SP signed notes and tlog checkpoints (origin, tree size, base64 root), signed with Ed25519."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from .encoding import b64decode, b64encode
from .errors import CheckpointError, MalformedError
from .keys import NoteSigner, NoteVerifier

MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "
# Every C0 control character but the newline.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = b64encode(struct.pack(">I", self.key_id) + self.signature)
        return f"{SIGNATURE_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]

    @classmethod
    def parse(cls, note: str) -> SignedNote:
        if _CONTROL.search(note):
            raise MalformedError("note contains control characters")
        if not note.isascii():
            try:  # a note is signed as UTF-8: a lone surrogate (from JSON "\ud800") has none
                note.encode()
            except UnicodeEncodeError as exc:
                raise MalformedError("note is not valid Unicode text") from exc
        if not note.endswith("\n"):
            raise MalformedError("note must end with a newline")
        split = note.rfind("\n\n")
        if split < 0:
            raise MalformedError("note has no blank line before its signatures")
        text, block = note[: split + 1], note[split + 2 :]
        signatures = []
        # Lines end in U+000A only (str.splitlines would also split at U+0085, U+2028, ...).
        for line in block.split("\n")[:-1]:
            if not line.startswith(SIGNATURE_PREFIX):
                raise MalformedError("signature line must start with an em dash and a space")
            name, _, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
            if not name or not blob or " " in blob:
                raise MalformedError("signature line must be '— <name> <base64>'")
            raw = b64decode(blob, what="note signature")
            if len(raw) < 5:
                raise MalformedError("note signature is too short")
            signatures.append(NoteSignature(name, struct.unpack(">I", raw[:4])[0], raw[4:]))
        if not signatures:
            raise MalformedError("note has no signatures")
        if len(signatures) > MAX_SIGNATURES:
            raise MalformedError(f"note has more than {MAX_SIGNATURES} signatures")
        return cls(text, tuple(signatures))

    def render(self) -> str:
        return self.text + "\n" + "".join(sig.line() for sig in self.signatures)

    def verify(self, verifier: NoteVerifier) -> None:
        """Raise unless a signature by ``verifier`` (name and key ID matching) verifies."""
        matching = [
            s for s in self.signatures if s.name == verifier.name and s.key_id == verifier.key_id
        ]
        if not matching:
            raise CheckpointError(f"note carries no signature by {verifier.name}")
        for sig in matching:
            if not verifier.verify(sig.signature, self.text.encode()):
                raise CheckpointError(f"signature by {verifier.name} does not verify")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{b64encode(self.root)}\n"

    def sign(self, signer: NoteSigner) -> str:
        if signer.name != self.origin:
            raise ValueError("the log key's name must equal the checkpoint origin")
        text = self.text()
        sig = NoteSignature(signer.name, signer.verifier.key_id, signer.sign(text.encode()))
        return SignedNote(text, (sig,)).render()

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise MalformedError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin:
            raise MalformedError("checkpoint origin is empty")
        if (
            not size_text.isascii()
            or not size_text.isdigit()
            or (size_text != "0" and size_text.startswith("0"))
        ):
            raise MalformedError("checkpoint size must be a decimal without leading zeros")
        if any(not line for line in lines[3:-1]):
            raise MalformedError("checkpoint extension lines must not be empty")
        return cls(origin, int(size_text), b64decode(root_text, what="checkpoint root", length=32))

    @classmethod
    def verify_note(cls, note: str, log: NoteVerifier) -> Checkpoint:
        """Parse a signed checkpoint and check the log's signature; return the checkpoint."""
        signed = SignedNote.parse(note)
        checkpoint = cls.from_text(signed.text)
        if checkpoint.origin != log.name:
            raise CheckpointError(f"origin {checkpoint.origin!r} is not the log {log.name!r}")
        signed.verify(log)
        return checkpoint

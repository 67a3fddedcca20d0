"""Ed25519 keys: our statement key ids and the C2SP signed-note key strings.

A verifier key string (``vkey``) is ``<name>+<8 hex key ID>+<base64(0x01 || public key)>`` as C2SP
signed-note defines it; the signer key string (``skey``) follows Go's ``sumdb/note`` format,
``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from .encoding import b64decode, b64encode
from .errors import MalformedError

ED25519 = 0x01
KEY_ID_DOMAIN = b"goc/key/v1\n"


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def statement_key_id(public_key: bytes) -> str:
    """The id by which statements name their signing key: hex SHA-256 of the domain and key."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(KEY_ID_DOMAIN + public_key).hexdigest()


def note_key_id(name: str, public_key: bytes) -> int:
    """C2SP signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4] as uint32."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def check_key_name(name: str) -> str:
    if not name or any(ch.isspace() or ch == "+" for ch in name):
        raise MalformedError("key name must be non-empty, without spaces or '+'")
    return name


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key, as carried by a C2SP verifier-key string."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != 32:
            raise MalformedError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        return note_key_id(self.name, self.public_key)

    @property
    def statement_key_id(self) -> str:
        return statement_key_id(self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        # At most 2 splits: the base64 key may itself contain '+' (as Go's note.NewVerifier).
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise MalformedError("verifier key must be <name>+<hex id>+<base64 key>")
        name, hex_id, blob = parts
        check_key_name(name)
        if len(hex_id) != 8 or hex_id != hex_id.lower():
            raise MalformedError("verifier key id must be 8 lowercase hex digits")
        raw = b64decode(blob, what="verifier key", length=33)
        if raw[0] != ED25519:
            raise MalformedError("verifier key is not an Ed25519 (type 0x01) key")
        verifier = cls(name=name, public_key=raw[1:])
        if f"{verifier.key_id:08x}" != hex_id:
            raise MalformedError("verifier key id does not match the key")
        return verifier

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([ED25519]) + self.public_key)}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of ``message`` by this key."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """A named Ed25519 private key: signs checkpoints (log key) or statements (actor keys)."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name=name, private_key=Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        return cls(name=name, private_key=Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedError("signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 seed>")
        _, _, name, hex_id, blob = parts
        raw = b64decode(blob, what="signer key", length=33)
        if raw[0] != ED25519:
            raise MalformedError("signer key is not an Ed25519 (type 0x01) key")
        signer = cls.from_seed(name, raw[1:])
        if f"{signer.verifier.key_id:08x}" != hex_id:
            raise MalformedError("signer key id does not match the key")
        return signer

    @property
    def seed(self) -> bytes:
        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_key(self) -> bytes:
        return public_bytes(self.private_key.public_key())

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(name=self.name, public_key=self.public_key)

    @property
    def key_id(self) -> str:
        """This key's statement key id (see :func:`statement_key_id`)."""
        return statement_key_id(self.public_key)

    def skey(self) -> str:
        blob = b64encode(bytes([ED25519]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{blob}"

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

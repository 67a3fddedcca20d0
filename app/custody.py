"""Household private keys at rest: Ed25519 seeds sealed with AES-256-GCM under LEDGER_KEK."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger import NoteSigner

SEAL_VERSION = b"\x01"


class KeyCustodyError(RuntimeError):
    """A sealed key could not be opened (wrong LEDGER_KEK, or the blob was altered)."""


class KeyCustody:
    def __init__(self, kek: bytes) -> None:
        self._aead = AESGCM(kek)

    def seal(self, signer: NoteSigner) -> bytes:
        """``version || nonce || ciphertext``, the key id bound as associated data."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, signer.seed, signer.key_id.encode())
        return SEAL_VERSION + nonce + sealed

    def open(self, blob: bytes, *, name: str, key_id: str) -> NoteSigner:
        if blob[:1] != SEAL_VERSION:
            raise KeyCustodyError("unknown sealed key format")
        try:
            seed = self._aead.decrypt(blob[1:13], blob[13:], key_id.encode())
        except InvalidTag as exc:
            raise KeyCustodyError("sealed key does not open under LEDGER_KEK") from exc
        signer = NoteSigner.from_seed(name, seed)
        if signer.key_id != key_id:
            raise KeyCustodyError("sealed key does not match its key id")
        return signer

"""Short public codes for households and batches, printed on labels and typed by hand."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L: codes are read aloud and typed from stickers.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_code(prefix: str, length: int = 6) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))

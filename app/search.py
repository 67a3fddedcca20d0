"""Accent-insensitive search keys for Vietnamese text.

Buyers type "buoi da xanh" as often as "Bưởi da xanh": both fold to the same key. Keys are
computed here, in Python, and stored beside the rows they describe (``search_text``), so the
search is a plain ``LIKE`` that behaves the same on SQLite and PostgreSQL (neither engine's
collations or ``unaccent`` extension is needed, and both agree on lowercase ASCII).
"""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Lowercase, without diacritics (đ becomes d), words separated by single spaces."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_WORD.sub(" ", bare).strip()


def search_key(*parts: str | None) -> str:
    return fold(" ".join(p for p in parts if p))

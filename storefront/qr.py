"""QR codes for stickers: error correction level Q, generated once per (URL, format, size) and
kept in an in-process LRU cache (the bytes only depend on those, so every worker agrees)."""

from __future__ import annotations

import functools
import io

import segno

ERROR_LEVEL = "q"  # survives a quarter of the symbol scuffed or dirty (stickers on produce)
BORDER = 4  # the quiet zone the QR standard asks for, in modules
DEFAULT_PNG_SIZE = 320
MIN_PNG_SIZE = 96
MAX_PNG_SIZE = 1200


def png_size(requested: int | None) -> int:
    """The ``?size=`` of a PNG, in pixels, kept within bounds."""
    if requested is None:
        return DEFAULT_PNG_SIZE
    return max(MIN_PNG_SIZE, min(MAX_PNG_SIZE, requested))


@functools.lru_cache(maxsize=512)
def svg(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error=ERROR_LEVEL, boost_error=False).save(
        out, kind="svg", scale=4, border=BORDER, xmldecl=False, svgns=True
    )
    return out.getvalue()


@functools.lru_cache(maxsize=512)
def png(url: str, size: int) -> bytes:
    """A PNG at most ``size`` pixels wide (whole pixels per module, at least one)."""
    code = segno.make(url, error=ERROR_LEVEL, boost_error=False)
    modules = code.symbol_size(scale=1, border=BORDER)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, size // modules), border=BORDER)
    return out.getvalue()

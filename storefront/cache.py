"""Rendered public pages kept in each worker process, so a page many buyers open (a batch whose
label is on every bag at a market stall) is verified and rendered once, not per request.

A page is kept under its ETag (page version, ledger tree size, language, what the page is), and
a batch page's ETag also covers a digest of the batch's ledger entries as stored. So a new
entry, or one changed in place behind the ledger's back (the tree size unchanged), re-renders
and re-verifies the page on the next request, and a browser's cached copy is no longer
confirmed with a 304.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from flask import current_app
from sqlalchemy import bindparam, func, select

from ledger import Ledger
from ledger.schema import entries

PAGES_PER_WORKER = 256  # at most 25 MB: a page stays under 100 KB


class PageCache:
    """A bounded least-recently-used map of ETag to rendered HTML."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pages: OrderedDict[str, str] = OrderedDict()

    def get(self, etag: str) -> str | None:
        html = self.pages.get(etag)
        if html is not None:
            self.pages.move_to_end(etag)
        return html

    def put(self, etag: str, html: str) -> None:
        self.pages[etag] = html
        self.pages.move_to_end(etag)
        while len(self.pages) > self.size:
            self.pages.popitem(last=False)


def page_cache() -> PageCache:
    """This app's cache (one per app, so every test app starts empty)."""
    cache: PageCache = current_app.extensions.setdefault(
        "storefront.pages", PageCache(PAGES_PER_WORKER)
    )
    return cache


# Built once: on a cached batch page this one statement is the request's only query. It also
# reads the tree size (the last seq + 1, as Ledger.size counts it) to save a round trip.
_SUBJECT_ENTRIES = (
    select(
        select(func.max(entries.c.seq)).scalar_subquery(),
        entries.c.seq,
        entries.c.key_id,
        entries.c.prev_hash,
        entries.c.subject_prev_hash,
        entries.c.statement,
        entries.c.signature,
        entries.c.entry_hash,
    )
    .where(entries.c.subject == bindparam("subject"))
    .order_by(entries.c.seq)
)


def ledger_state(ledger: Ledger, subject: str | None) -> tuple[int, str]:
    """The tree size and, for a ``subject``, a digest of its ledger entries as stored: every
    byte its verdicts check ("" for no subject or no entry).

    Read on a connection of the ledger's own, without the app's session. The app's mirror rows
    (batches, steps) are left out on purpose: a page kept from before such a row was altered
    shows what was signed.
    """
    with ledger.engine.connect() as conn:
        rows = conn.execute(_SUBJECT_ENTRIES, {"subject": subject}).all() if subject else []
        if not rows:
            return ledger.size(conn), ""
    digest = hashlib.sha256()
    for _last, seq, key_id, *stored in rows:  # separators keep values from running together
        digest.update(b"\x1f".join((str(seq).encode(), key_id.encode(), *stored, b"\x1e")))
    return rows[0][0] + 1, digest.hexdigest()

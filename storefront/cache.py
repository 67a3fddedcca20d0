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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import current_app
from sqlalchemy import bindparam, func, select

from ledger import Ledger
from ledger.schema import entries

PAGES_PER_WORKER = 256  # at most 25 MB: a page stays under 100 KB

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class WorkerCache(Generic[K, V]):
    """A bounded least-recently-used map, safe across a worker's threads. What it keeps must be
    a pure function of its key: a hit is never stale, so nothing is ever invalidated."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = make()  # outside the lock: two threads may both make it, neither waits
        with self._lock:
            self._items[key] = made
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made


def worker_cache(name: str, size: int) -> WorkerCache[K, V]:
    """The app's cache called ``name`` (one per app, so every test app starts empty)."""
    cache: WorkerCache[K, V] = current_app.extensions.setdefault(name, WorkerCache(size))
    return cache


def page_cache() -> WorkerCache[str, str]:
    """Rendered public pages by ETag."""
    return worker_cache("storefront.pages", PAGES_PER_WORKER)


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

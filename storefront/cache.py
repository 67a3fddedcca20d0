"""Rendered public pages kept in each worker process, so a page many buyers open (a batch whose
label is on every bag at a market stall) is verified and rendered once, not per request.

A page is kept under its ETag (page version, ledger tree size, language, what the page is), and
a batch page's ETag also covers a digest of the batch's ledger entries as stored. So a new
entry, or one changed in place behind the ledger's back (the tree size unchanged), re-renders
and re-verifies the page once the worker reads the ledger's state again (on every request, or
once a second under load: see recent_state), and a browser's cached copy is no longer
confirmed with a 304.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app
from sqlalchemy import Row, bindparam, func, select

from app.context import goc
from app.models import Batch, Offer, batch_subject
from ledger import Ledger
from ledger.schema import entries

PAGES_PER_WORKER = 256  # at most 25 MB: a page stays under 100 KB
STATES_KEPT = 1024  # ledger states of the pages asked for in the last window or two

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
S = TypeVar("S")


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


def recent_state(key: tuple[str, ...], read: Callable[[], S | None]) -> S | None:
    """What ``read`` returned in this worker within the last PUBLIC_PAGE_STATE_SECONDS (0:
    read it now).

    A page many buyers open at once then costs one query per worker per window instead of one
    per request; what it shows is at most that many seconds late (a new entry, a tampered one,
    units just reserved), which a CDN honouring the pages' max-age delays anyway. Kept by window, so
    nothing is invalidated: a past window's entry is no longer asked for and ages out.
    """
    seconds = goc().settings.public_page_state_seconds
    if seconds <= 0:
        return read()
    window = int(time.monotonic() // seconds)
    states: WorkerCache[tuple[object, ...], S | None] = worker_cache(
        "storefront.states", STATES_KEPT
    )
    return states.get_or_make((window, *key), read)


# Built once: on a cached page of a ledger subject this one statement is the request's only
# query. It also reads the tree size (the last seq + 1, as Ledger.size counts it) to save a
# round trip.
_LAST_SEQ = select(func.max(entries.c.seq)).scalar_subquery()
_ENTRY_COLUMNS = (
    entries.c.seq,
    entries.c.key_id,
    entries.c.prev_hash,
    entries.c.subject_prev_hash,
    entries.c.statement,
    entries.c.signature,
    entries.c.entry_hash,
)
_SUBJECT_ENTRIES = (
    select(_LAST_SEQ, *_ENTRY_COLUMNS)
    .where(entries.c.subject == bindparam("subject"))
    .order_by(entries.c.seq)
)
# A batch page also shows its offer (price, units left), which changes outside the ledger.
_batches, _offers = Batch.__table__, Offer.__table__
_BATCH_ENTRIES = (
    select(_LAST_SEQ, _offers.c.on_sale, _offers.c.available, _offers.c.price_vnd, *_ENTRY_COLUMNS)
    .select_from(
        entries.outerjoin(_batches, _batches.c.code == bindparam("code")).outerjoin(
            _offers, _offers.c.batch_id == _batches.c.id
        )
    )
    .where(entries.c.subject == bindparam("subject"))
    .order_by(entries.c.seq)
)


@dataclass(frozen=True)
class LedgerState:
    """What a cached page of a ledger subject depends on (see ledger_state)."""

    size: int  # the tree size
    fingerprint: str  # a digest of the subject's entries as stored ("" for none)
    offer: tuple[int, int] | None = None  # a batch on sale: units available, price in VND


def _fingerprint(rows: Sequence[Row[Any]]) -> str:
    digest = hashlib.sha256()
    for seq, key_id, *stored in rows:  # separators keep values from running together
        digest.update(b"\x1f".join((str(seq).encode(), key_id.encode(), *stored, b"\x1e")))
    return digest.hexdigest()


def ledger_state(ledger: Ledger, subject: str | None) -> LedgerState:
    """The tree size and, for a ``subject``, a digest of its ledger entries as stored: every
    byte its verdicts check.

    Read on a connection of the ledger's own, without the app's session. The app's mirror rows
    (batches, steps) are left out on purpose: a page kept from before such a row was altered
    shows what was signed.
    """
    with ledger.engine.connect() as conn:
        rows = conn.execute(_SUBJECT_ENTRIES, {"subject": subject}).all() if subject else []
        if not rows:
            return LedgerState(ledger.size(conn), "")
    return LedgerState(rows[0][0] + 1, _fingerprint([row[1:] for row in rows]))


def batch_state(ledger: Ledger, code: str) -> LedgerState | None:
    """ledger_state of a batch's subject, with its offer, in one statement; None for a code
    with no ledger entries (no such batch)."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(_BATCH_ENTRIES, {"code": code, "subject": batch_subject(code)}).all()
    if not rows:
        return None
    last, on_sale, available, price, *_ = rows[0]
    return LedgerState(
        last + 1,
        _fingerprint([row[4:] for row in rows]),
        (available, price) if on_sale else None,
    )

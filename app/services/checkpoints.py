"""Checkpoint publication: every signed checkpoint is also written to object storage, so the log's
history of tree heads survives the loss or rewrite of the database.

Objects (text/plain, the C2SP signed note as served by ``GET /ledger/checkpoint``):

- ``checkpoints/<tree size>``: each checkpoint, never rewritten with other content;
- ``checkpoint``: the latest published one. Its size is how far publication has got.

Appends commit in many processes. After a commit that appended, the process publishes every
checkpoint above the published size, so one that failed (storage down, process killed) is
published by the next; ``flask publish-checkpoints`` does the same by hand. Publishers take a
database lock in turn, so the latest object never moves back to a smaller size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ledger import Checkpoint, LedgerError, LogReader, SignedNote
from ledger.schema import WRITE_TRANSACTION

from ..context import goc
from ..extensions import db
from ..storage import FileStorage, StorageError, StorageNotFoundError

LATEST_KEY = "checkpoint"
CONTENT_TYPE = "text/plain; charset=utf-8"
PAGE = 500
APPENDED = "goc.ledger_appended"  # Session.info flag set by an append, read after commit
# Not the append lock: publishers wait for each other, never appends for storage writes.
PUBLISH_LOCK_ID = 0x67_6F_63_70_75_62  # "gocpub"


def checkpoint_key(size: int) -> str:
    return f"checkpoints/{size}"


def published_size(storage: FileStorage) -> int | None:
    """The tree size of the latest published checkpoint, or None before the first."""
    try:
        note = storage.get(LATEST_KEY).decode()
    except StorageNotFoundError:
        return None
    return Checkpoint.from_text(SignedNote.parse(note).text).size


def publish_checkpoints(engine: Engine, storage: FileStorage) -> int:
    """Publish every checkpoint above the published size; returns how many were published."""
    reader = LogReader(engine)
    count = 0
    with _publication_lock(engine):
        done = published_size(storage)
        after = -1 if done is None else done
        while page := reader.checkpoints(after=after, limit=PAGE):
            for checkpoint in page:
                storage.put(
                    checkpoint_key(checkpoint.size),
                    checkpoint.note.encode(),
                    content_type=CONTENT_TYPE,
                )
            # Progress is kept page by page: a long first publication resumes where it stopped.
            storage.put(LATEST_KEY, page[-1].note.encode(), content_type=CONTENT_TYPE)
            count += len(page)
            after = page[-1].size
    return count


@contextmanager
def _publication_lock(engine: Engine) -> Iterator[None]:
    """Publishers one at a time: a PostgreSQL advisory lock; on SQLite its one write lock."""
    options = WRITE_TRANSACTION if engine.dialect.name == "sqlite" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PUBLISH_LOCK_ID})
        yield


def mark_appended(session: Session) -> None:
    """Note that this session's transaction appended: publish once it commits."""
    session.info[APPENDED] = True


def _after_commit(session: Session) -> None:
    if not session.info.pop(APPENDED, False):
        return
    try:
        publish_checkpoints(db.engine, goc().storage)
    except (StorageError, SQLAlchemyError, LedgerError, OSError):
        # The entries are committed and sealed whatever happens here; the next publication
        # (next append, or `flask publish-checkpoints`) catches up.
        current_app.logger.exception("checkpoint publication failed; will retry on next append")


def _after_rollback(session: Session) -> None:
    session.info.pop(APPENDED, None)


def init_app(app: Flask) -> None:
    """Publish after every commit of the app's sessions that appended to the ledger."""
    del app  # the listeners are on Flask-SQLAlchemy's session class, shared by every app
    for name, listener in (("after_commit", _after_commit), ("after_rollback", _after_rollback)):
        target: Any = db.session
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)

"""Building, signing and appending the app's statements inside the caller's DB transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, scoped_session

from ledger import Entry, NoteSigner, SignedStatement, Statement
from ledger.schema import WRITE_TRANSACTION

from ..context import Goc
from ..errors import Conflict
from ..models import Household
from .checkpoints import mark_appended


def household_signer(goc: Goc, household: Household) -> NoteSigner:
    key = household.active_key
    if key is None:
        raise Conflict("This household has no active signing key; ask the co-op to reissue one.")
    return goc.custody.open(key.sealed_seed, name=household.subject, key_id=key.key_id)


def sign(
    signer: NoteSigner,
    kind: str,
    subject: str,
    body: dict[str, Any],
    *,
    time: datetime | None = None,
    attachments: Sequence[str] = (),
) -> SignedStatement:
    statement = Statement(
        kind=kind,
        subject=subject,
        key=signer.key_id,
        time=time or datetime.now(UTC),
        body=body,
        attachments=tuple(attachments),
    )
    return statement.sign(signer)


def begin_write(session: Session | scoped_session[Session]) -> None:
    """End the session's read transaction, if any, and open a write transaction.

    Call before a service reads what it is about to change: on SQLite the write lock is then
    taken first, so concurrent writers queue instead of failing. Loaded objects are reloaded.
    """
    current = session() if isinstance(session, scoped_session) else session
    if current.in_transaction():
        current.commit()
    current.connection(execution_options=WRITE_TRANSACTION)


def append(session: Session, goc: Goc, statements: Sequence[SignedStatement]) -> list[Entry]:
    """Append within the session's write transaction; the caller's commit makes it durable
    (and publishes the new checkpoint, see services.checkpoints)."""
    entries = goc.ledger.append_in(session.connection(), statements)
    mark_appended(session)
    return entries

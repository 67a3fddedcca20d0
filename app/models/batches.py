from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..search import search_key
from ._types import UTCDateTime, utcnow


def batch_subject(code: str) -> str:
    """The ledger subject of the batch with this code."""
    return f"batch:{code}"


class Batch(db.Model):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("gtin", "lot", name="uq_batches_gtin_lot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # public: /b/<code>
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    product: Mapped[str] = mapped_column(String(120))
    variety: Mapped[str] = mapped_column(String(120), default="")
    plot: Mapped[str] = mapped_column(String(120), default="")
    unit: Mapped[str] = mapped_column(String(16))
    expected_quantity: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    start_date: Mapped[date] = mapped_column(Date)
    lot: Mapped[str] = mapped_column(String(20))
    gtin: Mapped[str | None] = mapped_column(String(14))
    seq: Mapped[int] = mapped_column(unique=True)  # its batch.create ledger entry
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Folded product, variety, lot and code for the marketplace search (see app.search).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    household = relationship("Household", back_populates="batches")
    steps = relationship("Step", back_populates="batch", order_by="Step.seq")

    @property
    def subject(self) -> str:
        return batch_subject(self.code)

    def index_for_search(self) -> None:
        self.search_text = search_key(self.product, self.variety, self.lot, self.code)


class Step(db.Model):
    """A production step as recorded in the ledger (``seq``); rows mirror entries, never change."""

    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "harvest", "spraying", ... or "correct"
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(unique=True)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    batch = relationship("Batch", back_populates="steps")
    photos = relationship("StepPhoto", order_by="StepPhoto.position", lazy="selectin")
    corrects = relationship("Step", remote_side=[id])


class Photo(db.Model):
    """A re-encoded photo stored by the SHA-256 of its bytes (the digest in the statement)."""

    __tablename__ = "photos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    size_bytes: Mapped[int] = mapped_column()
    thumb_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StepPhoto(db.Model):
    __tablename__ = "step_photos"

    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    photo_sha256: Mapped[str] = mapped_column(ForeignKey("photos.sha256"))

    photo = relationship("Photo", lazy="joined")


class IdempotencyRecord(db.Model):
    """A client retry key (API ``Idempotency-Key`` or a web form's one-time token)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),
        Index("ix_idempotency_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("steps.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

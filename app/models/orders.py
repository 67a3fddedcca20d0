from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._types import UTCDateTime, utcnow


class Offer(db.Model):
    """A batch put on sale by its household: price per unit and the units still available.

    ``available`` is decremented when an order reserves units and given back when an unpaid
    order expires or is cancelled; the CHECK is the last guard against overselling.
    """

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("price_vnd > 0", name="price_positive"),
    )

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    price_vnd: Mapped[int] = mapped_column(BigInteger)
    available: Mapped[int] = mapped_column(Integer)
    on_sale: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    batch = relationship("Batch")


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # stock reserved, waiting for the transfer
    PARTIALLY_PAID = "partially_paid"  # some money arrived, less than the amount
    PAID = "paid"
    EXPIRED = "expired"  # not paid in time: its stock went back on sale
    CANCELLED = "cancelled"
    HANDED_OVER = "handed_over"  # paid and given to the buyer


# An order in these states holds its reserved units (an expiry gives them back).
OPEN_STATUSES = (OrderStatus.PENDING, OrderStatus.PARTIALLY_PAID)


class PaymentFlag(enum.StrEnum):
    NONE = ""
    SHORT = "short"  # less money arrived than the amount
    OVER = "over"  # more money arrived than the amount


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # in the transfer content
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of /o/<token>
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    price_vnd: Mapped[int] = mapped_column(BigInteger)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    paid_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    buyer_name: Mapped[str] = mapped_column(String(120))
    buyer_phone: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, native_enum=False, length=16),
        default=OrderStatus.PENDING,
    )
    flag: Mapped[PaymentFlag] = mapped_column(
        Enum(PaymentFlag, native_enum=False, length=8),
        default=PaymentFlag.NONE,
    )
    client_address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sale_seq: Mapped[int | None] = mapped_column(unique=True)  # its ledger ``sale`` entry

    batch = relationship("Batch")
    payments = relationship("Payment", back_populates="order", order_by="Payment.id")


class WebhookDelivery(db.Model):
    """A webhook request exactly as received, stored before anything else is done with it."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    remote_address: Mapped[str] = mapped_column(String(64), default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    outcome: Mapped[str] = mapped_column(String(32), default="received")
    detail: Mapped[str] = mapped_column(Text, default="")


class PaymentMethod(enum.StrEnum):
    BANK_TRANSFER = "bank_transfer"  # reported by the bank-feed webhook
    CASH = "cash"  # confirmed by the household
    MANUAL = "manual"  # a transfer the household saw in its own banking app


class Payment(db.Model):
    """Money received. Without an order it waits in the inbox of the household owning the
    receiving account (or of the co-op admins if no household does) to be assigned by hand."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_txn_id", name="uq_payments_provider_txn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # "sepay", or "household" by hand
    provider_txn_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[PaymentMethod] = mapped_column(Enum(PaymentMethod, native_enum=False, length=16))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(Text, default="")
    account_number: Mapped[str] = mapped_column(String(32), default="")
    transaction_date: Mapped[str] = mapped_column(String(32), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_deliveries.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("Order", back_populates="payments")
    household = relationship("Household")

"""Offers and orders: a household puts a batch on sale, buyers reserve units without an account.

Stock is reserved by one conditional UPDATE (``available >= quantity``), so concurrent buyers
can never take more than there is: on PostgreSQL the row lock makes each UPDATE re-check the
condition after the previous one commits; on SQLite writers are serialized. An unpaid order
expires after ``ORDER_TTL_MINUTES`` and gives its units back: lazily (when the order is read,
and before each new order) and by ``flask expire-orders``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from ..models import Batch, Household, Offer, Order, OrderStatus, User
from ..models._types import utcnow
from ..vietqr import BANKS_BY_BIN, build
from .batches import get_batch
from .codes import ALPHABET
from .households import check_payout_account, normalise_phone
from .ledger_statements import begin_write

ORDER_PREFIX = "GOC"  # survives banks' upper-casing, and never reads as a Vietnamese word
ORDER_CODE_LENGTH = 6  # 31**6 codes; unambiguous characters only (no 0/O, 1/I/L)
ORDER_CODE = re.compile(f"{ORDER_PREFIX}[{ALPHABET}]{{{ORDER_CODE_LENGTH}}}")
MAX_QUANTITY = 100_000
MAX_PRICE_VND = 1_000_000_000  # per unit; NAPAS caps a transfer at 500 million anyway
MAX_AMOUNT_VND = 500_000_000
# Orders per client address: a buyer orders a few times, a script filling the stock does not.
ORDER_WINDOW = timedelta(minutes=10)
MAX_ORDERS_PER_ADDRESS = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _whole(
    data: Mapping[str, Any], name: str, low: int, high: int, *, grouped: bool = False
) -> int:
    """A whole number; ``grouped`` accepts VND written with thousands dots (45.000)."""
    raw = data.get(name)
    text = str(raw).strip() if raw is not None else ""
    if grouped and re.fullmatch(r"\d{1,3}(\.\d{3})+", text):
        text = text.replace(".", "")
    if isinstance(raw, bool) or not text.isdigit():
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            errors={name: [_("Enter a whole number.")]},
        )
    value = int(text)
    if not low <= value <= high:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            errors={name: [_("Must be between %(low)d and %(high)d.", low=low, high=high)]},
        )
    return value


def _text(data: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ValidationFailed(
            _("Please correct the highlighted fields."), errors={name: [_("Enter text.")]}
        )
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise ValidationFailed(
            _("Please correct the highlighted fields."), errors={name: [_("Required.")]}
        )
    if len(value) > limit:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            errors={name: [_("Use at most %(n)d characters.", n=limit)]},
        )
    return value


# -- paying ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentInstructions:
    """What a buyer needs to pay: the dynamic VietQR payload, and the same as text."""

    vietqr: str
    bank_bin: str
    bank_name: str
    account: str
    holder: str
    amount_vnd: int
    content: str  # the transfer content: the order code


def _payload(household: Household, amount: int, content: str) -> str:
    return build(
        bank_bin=household.bank_bin, account=household.bank_account, amount=amount, purpose=content
    )


def payment_instructions(order: Order) -> PaymentInstructions:
    household = order.batch.household
    bank = BANKS_BY_BIN.get(household.bank_bin)
    return PaymentInstructions(
        vietqr=_payload(household, order.amount_vnd, order.code),
        bank_bin=household.bank_bin,
        bank_name=bank.name if bank else household.bank_bin,
        account=household.bank_account,
        holder=household.bank_account_name,
        amount_vnd=order.amount_vnd,
        content=order.code,
    )


# -- offers ---------------------------------------------------------------------------------------
def offer_of(session: Session, batch: Batch) -> Offer | None:
    return session.get(Offer, batch.id)


def set_offer(session: Session, *, actor: User, batch: Batch, data: Mapping[str, Any]) -> Offer:
    """Set a batch's price per unit (VND), units available and whether it is on sale."""
    if actor.household_id != batch.household_id:
        raise Forbidden(_("You can only sell your own household's batches."))
    price = _whole(data, "price_vnd", 1, MAX_PRICE_VND, grouped=True)
    available = _whole(data, "available", 0, MAX_QUANTITY)
    on_sale = data.get("on_sale") in (True, "1", "on", "true", "yes")
    if on_sale:
        check_payout_account(batch.household, field="on_sale")
    begin_write(session)
    offer = session.get(Offer, batch.id)
    if offer is None:
        offer = Offer(batch_id=batch.id)
        session.add(offer)
    offer.price_vnd, offer.available, offer.on_sale = price, available, on_sale
    session.commit()
    return offer


# -- expiry ---------------------------------------------------------------------------------------
def _give_back(session: Session, order: Order, status: OrderStatus) -> bool:
    """Move an open order to ``status`` and return its units, once: the guarded UPDATE makes
    a racing expiry (another request, the CLI) a no-op."""
    moved = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == OrderStatus.PENDING)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(Offer)
        .where(Offer.batch_id == order.batch_id)
        .values(available=Offer.available + order.quantity)
        .execution_options(synchronize_session=False)
    )
    return True


def expire_due(session: Session, *, now: datetime | None = None, order: Order | None = None) -> int:
    """Expire unpaid orders whose time is up (all of them, or just ``order``), inside the
    caller's write transaction; returns how many expired. Partly paid orders never expire:
    money has arrived and the household settles them by hand."""
    now = now or utcnow()
    query = select(Order).where(Order.status == OrderStatus.PENDING, Order.expires_at <= now)
    if order is not None:
        query = query.where(Order.id == order.id)
    expired = sum(_give_back(session, due, OrderStatus.EXPIRED) for due in session.scalars(query))
    session.expire_all()  # rows changed behind the ORM's back
    return expired


def expire_orders(session: Session, *, now: datetime | None = None) -> int:
    """Expire every overdue unpaid order and commit (``flask expire-orders``)."""
    begin_write(session)
    count = expire_due(session, now=now)
    session.commit()
    return count


# -- placing an order -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    token: str  # shown to the buyer once (the /o/<token> link); only its hash is stored


def _new_code(session: Session) -> str:
    while True:
        code = ORDER_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(ORDER_CODE_LENGTH))
        if session.scalar(select(Order.id).where(Order.code == code)) is None:
            return code


def _throttle(session: Session, address: str, now: datetime) -> None:
    recent = session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.client_address == address, Order.created_at >= now - ORDER_WINDOW)
    )
    if (recent or 0) >= MAX_ORDERS_PER_ADDRESS:
        raise TooManyRequests(_("Too many orders from this connection. Please wait a few minutes."))


def place_order(
    session: Session,
    settings: Settings,
    *,
    data: Mapping[str, Any],
    address: str,
    now: datetime | None = None,
) -> PlacedOrder:
    """Reserve ``quantity`` units of ``batch`` for a buyer (``buyer_name``, ``buyer_phone``,
    optional ``note``); raises Conflict when fewer units are left."""
    batch_code = _text(data, "batch", 16, required=True)
    quantity = _whole(data, "quantity", 1, MAX_QUANTITY)
    name = _text(data, "buyer_name", 120, required=True)
    phone = normalise_phone(_text(data, "buyer_phone", 32, required=True), field="buyer_phone")
    note = _text(data, "note", 500, required=False)
    try:
        batch = get_batch(session, batch_code)
    except NotFound as exc:
        raise ValidationFailed(exc.message, errors={"batch": [exc.message]}) from None
    now = now or utcnow()
    address = address[:64]
    begin_write(session)
    _throttle(session, address, now)
    expire_due(session, now=now)
    offer = session.get(Offer, batch.id)
    if offer is None or not offer.on_sale or not batch.household.has_payout_account:
        raise Conflict(_("This batch is not on sale."), errors={"batch": [_("Not on sale.")]})
    amount = offer.price_vnd * quantity
    if amount > MAX_AMOUNT_VND:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            errors={"quantity": [_("One bank transfer can carry at most 500.000.000 ₫.")]},
        )
    reserved = session.execute(
        update(Offer)
        .where(Offer.batch_id == batch.id, Offer.on_sale, Offer.available >= quantity)
        .values(available=Offer.available - quantity)
        .execution_options(synchronize_session=False)
    )
    if reserved.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        left = offer_of(session, batch)
        remaining = left.available if left is not None else 0
        raise Conflict(
            _("Only %(n)d %(unit)s left.", n=remaining, unit=batch.unit),
            errors={"quantity": [_("At most %(n)d.", n=remaining)]},
        )
    token = secrets.token_urlsafe(24)
    order = Order(
        code=_new_code(session),
        token_hash=token_hash(token),
        batch_id=batch.id,
        quantity=quantity,
        price_vnd=offer.price_vnd,
        amount_vnd=amount,
        buyer_name=name,
        buyer_phone=phone,
        note=note,
        client_address=address,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.order_ttl_minutes),
    )
    session.add(order)
    session.commit()
    return PlacedOrder(order, token)


def order_for_token(session: Session, token: str, *, now: datetime | None = None) -> Order:
    """The order behind a buyer's link; an overdue unpaid order is expired on the way."""
    order = session.scalar(select(Order).where(Order.token_hash == token_hash(token)))
    if order is None:
        raise NotFound(_("We could not find that order."))
    now = now or utcnow()
    if order.status is OrderStatus.PENDING and order.expires_at <= now:
        begin_write(session)
        expire_due(session, now=now, order=order)
        session.commit()
    return order


# -- the household's side -------------------------------------------------------------------------
def own_order(session: Session, household: Household, code: str) -> Order:
    order = session.scalar(
        select(Order)
        .join(Batch, Order.batch_id == Batch.id)
        .where(Order.code == code, Batch.household_id == household.id)
    )
    if order is None:
        raise NotFound(_("No order with that code."))
    return order


def orders_of(session: Session, household: Household, *, limit: int = 200) -> list[Order]:
    return list(
        session.scalars(
            select(Order)
            .join(Batch, Order.batch_id == Batch.id)
            .where(Batch.household_id == household.id)
            .order_by(Order.id.desc())
            .limit(limit)
        )
    )


def hand_over(session: Session, *, actor: User, order: Order) -> Order:
    """The household gave a paid order to the buyer."""
    if actor.household_id != order.batch.household_id:
        raise Forbidden(_("You can only change your own household's orders."))
    begin_write(session)
    if order.status is not OrderStatus.PAID:
        raise Conflict(
            _("Only a paid order can be handed over."),
            errors={"order": [_("Confirm the payment first.")]},
        )
    order.status = OrderStatus.HANDED_OVER
    order.handed_over_at = utcnow()
    session.commit()
    return order

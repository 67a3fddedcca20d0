"""Money received for orders: bank-feed webhooks (SePay), and payments the household confirms.

Every webhook request is stored raw, in its own transaction, before it is authenticated or
parsed, so nothing is lost when processing fails. Payments are unique per (provider, provider
transaction id): a retried webhook finds its payment and changes nothing. A transfer whose
content names no open order waits in the inbox of the household that owns the receiving
account (or of the co-op admins) until someone assigns it by hand.

A payment that completes an order appends a ``sale`` statement, signed with the household's
key, to the batch's subject in the ledger: the public page counts sold units from those.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Goc
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..models import (
    OPEN_STATUSES,
    Batch,
    Household,
    Offer,
    Order,
    OrderStatus,
    Payment,
    PaymentFlag,
    PaymentMethod,
    Role,
    User,
    WebhookDelivery,
)
from ..models._types import utcnow
from .ledger_statements import append, begin_write, household_signer, sign
from .orders import MAX_AMOUNT_VND, ORDER_CODE, own_order

SALE_KIND = "sale"
SEPAY = "sepay"
BY_HOUSEHOLD = "household"
SIGNATURE_MAX_AGE = 300  # seconds; SePay: reject timestamps drifting more than 5 minutes
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-SePay-Timestamp", "X-SePay-Signature")


class Unauthenticated(DomainError):
    status = 401
    code = "unauthorized"


class MalformedPayload(DomainError):
    status = 400
    code = "bad_request"


# -- the raw record -------------------------------------------------------------------------------
def store_delivery(
    session: Session, *, provider: str, headers: Mapping[str, str], body: bytes, address: str
) -> WebhookDelivery:
    """Keep the request as received (the API key itself is never stored) and commit."""
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    kept["Authorization"] = "present" if headers.get("Authorization") else "absent"
    begin_write(session)
    delivery = WebhookDelivery(
        provider=provider, headers=kept, body=body, remote_address=address[:64]
    )
    session.add(delivery)
    session.commit()
    return delivery


def finish_delivery(session: Session, delivery: WebhookDelivery, outcome: str, detail: str) -> None:
    """Note what became of a delivery (after a failure too, in a fresh transaction)."""
    session.rollback()
    begin_write(session)
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id)
        .values(outcome=outcome[:32], detail=detail[:2000])
    )
    session.commit()


# -- authentication -------------------------------------------------------------------------------
def authenticate(
    *,
    key: str | None,
    hmac_secret: str | None,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> None:
    """``Authorization: Apikey <key>``; and, when a secret is configured, SePay's signature
    ``X-SePay-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with a
    ``X-SePay-Timestamp`` (unix seconds) within five minutes."""
    if not key:
        raise Unauthenticated(
            _("Payment webhooks are not configured (PAYMENT_WEBHOOK_KEY)."),
            errors={"Authorization": [_("No webhook key is configured on this server.")]},
        )
    scheme, _space, given = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "apikey" or not given.strip():
        raise Unauthenticated(
            _("A webhook API key is required."),
            errors={"Authorization": [_("Send the header Authorization: Apikey <key>.")]},
        )
    if not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise Unauthenticated(
            _("The webhook API key is wrong."), errors={"Authorization": [_("Wrong key.")]}
        )
    if not hmac_secret:
        return
    stamp = headers.get("X-SePay-Timestamp", "")
    now = time.time() if now is None else now
    if not stamp.isdigit() or abs(now - int(stamp)) > SIGNATURE_MAX_AGE:
        raise Unauthenticated(
            _("The webhook signature timestamp is missing or too old."),
            errors={"X-SePay-Timestamp": [_("Unix seconds within five minutes of now.")]},
        )
    expected = hmac.new(hmac_secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    signature = headers.get("X-SePay-Signature", "").removeprefix("sha256=")
    if not hmac.compare_digest(signature.encode(), expected.hexdigest().encode()):
        raise Unauthenticated(
            _("The webhook signature does not verify."),
            errors={"X-SePay-Signature": [_("Wrong signature.")]},
        )


# -- SePay's payload ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transfer:
    provider_txn_id: str
    incoming: bool
    amount_vnd: int
    content: str
    code: str | None
    account_number: str
    transaction_date: str


def _field(
    payload: Mapping[str, Any], name: str, kinds: tuple[type, ...], *, required: bool
) -> Any:
    value = payload.get(name)
    if value is None and not required:
        return None
    if value is None or isinstance(value, bool) or not isinstance(value, kinds):
        expected = {
            (int,): _("Expected a whole number."),
            (str,): _("Expected text."),
        }.get(kinds, _("Expected a number or text."))
        raise MalformedPayload(_("The webhook payload is malformed."), errors={name: [expected]})
    return value


def parse_sepay(body: bytes) -> Transfer:
    """The fields of SePay's incoming-transfer webhook; a malformed one names its field."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(
            _("The webhook body is not valid JSON."), errors={"body": [str(exc)]}
        ) from None
    if not isinstance(payload, dict):
        raise MalformedPayload(
            _("The webhook body is not a JSON object."), errors={"body": [_("Send an object.")]}
        )
    txn_id = _field(payload, "id", (int, str), required=True)
    transfer_type = _field(payload, "transferType", (str,), required=True)
    amount = _field(payload, "transferAmount", (int,), required=True)
    if amount < 0:
        raise MalformedPayload(
            _("The webhook payload is malformed."),
            errors={"transferAmount": [_("Must not be negative.")]},
        )
    return Transfer(
        provider_txn_id=str(txn_id)[:64],
        incoming=transfer_type == "in",
        amount_vnd=amount,
        content=_field(payload, "content", (str,), required=False) or "",
        code=_field(payload, "code", (str,), required=False),
        account_number=(_field(payload, "accountNumber", (str,), required=False) or "")[:32],
        transaction_date=(_field(payload, "transactionDate", (str,), required=False) or "")[:32],
    )


# -- matching -------------------------------------------------------------------------------------
def _folded(text: str) -> str:
    """Upper-case letters and digits only, without diacritics (đ → D): banks drop accents,
    change case and insert or remove spaces and punctuation in a transfer's content."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return re.sub(r"[^A-Z0-9]", "", decomposed.upper())


def codes_in(*texts: str | None) -> list[str]:
    """Every order code that could be hidden in ``texts``, in order of appearance. Overlapping
    candidates count (the name NGỌC folds to ...NGOC..., right before a real GOC... code)."""
    found: list[str] = []
    for text in texts:
        folded = _folded(text or "")
        for match in re.finditer(f"(?=({ORDER_CODE.pattern}))", folded):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def find_order(session: Session, transfer: Transfer) -> Order | None:
    candidates = codes_in(transfer.code, transfer.content)
    if not candidates:
        return None
    orders = {o.code: o for o in session.scalars(select(Order).where(Order.code.in_(candidates)))}
    return next((orders[code] for code in candidates if code in orders), None)


def household_for_account(session: Session, account: str) -> Household | None:
    if not account:
        return None
    return session.scalar(select(Household).where(Household.bank_account == account).limit(1))


# -- applying a payment ---------------------------------------------------------------------------
def _sale_statement(goc: Goc, order: Order) -> Any:
    batch: Batch = order.batch
    body = {
        "batch": batch.code,
        "quantity": order.quantity,
        "unit": batch.unit,
        "order": order.code,
    }
    return sign(household_signer(goc, batch.household), SALE_KIND, batch.subject, body)


def _reserve_again(session: Session, order: Order) -> bool:
    """Money for an expired or cancelled order: take its units back if they are still there."""
    taken = session.execute(
        update(Offer)
        .where(Offer.batch_id == order.batch_id, Offer.available >= order.quantity)
        .values(available=Offer.available - order.quantity)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1  # type: ignore[attr-defined]


def apply_payment(session: Session, goc: Goc, order: Order, payment: Payment) -> bool:
    """Count ``payment`` towards ``order`` inside the caller's write transaction. Returns False
    (leaving the payment unassigned) for an expired order whose units are gone."""
    # Read the order again under a row lock: an expiry racing this payment either finished
    # (the order is expired, handled below) or waits and then finds the order no longer pending.
    session.refresh(order, with_for_update=True)
    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        if not _reserve_again(session, order):
            return False
        order.status = OrderStatus.PENDING
    payment.order = order
    payment.assigned_at = utcnow()
    order.paid_vnd += payment.amount_vnd
    if order.paid_vnd < order.amount_vnd:
        order.status, order.flag = OrderStatus.PARTIALLY_PAID, PaymentFlag.SHORT
        return True
    order.flag = PaymentFlag.OVER if order.paid_vnd > order.amount_vnd else PaymentFlag.NONE
    if order.status in OPEN_STATUSES:
        order.status = OrderStatus.PAID
        order.paid_at = utcnow()
    if order.sale_seq is None:
        [entry] = append(session, goc, [_sale_statement(goc, order)])
        order.sale_seq = entry.seq
    return True


@dataclass(frozen=True)
class Outcome:
    result: str  # "paid", "partially_paid", "unmatched", "duplicate", "ignored"...
    order: Order | None = None
    payment: Payment | None = None


def process_transfer(session: Session, goc: Goc, transfer: Transfer, delivery_id: int) -> Outcome:
    """Record a bank transfer once, and count it towards the order its content names."""
    if not transfer.incoming or transfer.amount_vnd == 0:
        return Outcome("ignored")  # money leaving the account, or a test ping: not a payment
    begin_write(session)
    if _existing(session, SEPAY, transfer.provider_txn_id) is not None:
        return Outcome("duplicate")
    payment = Payment(
        provider=SEPAY,
        provider_txn_id=transfer.provider_txn_id,
        method=PaymentMethod.BANK_TRANSFER,
        amount_vnd=transfer.amount_vnd,
        content=transfer.content,
        account_number=transfer.account_number,
        transaction_date=transfer.transaction_date,
        delivery_id=delivery_id,
    )
    order = find_order(session, transfer)
    owner = household_for_account(session, transfer.account_number)
    if order is not None:
        receiving = order.batch.household
        # Money to someone else's account does not pay this household's order.
        if transfer.account_number and transfer.account_number != receiving.bank_account:
            order = None
        else:
            owner = receiving
    payment.household = owner
    session.add(payment)
    matched = order is not None and apply_payment(session, goc, order, payment)
    try:
        session.commit()
    except IntegrityError:  # the same transaction, delivered twice at once
        session.rollback()
        if _existing(session, SEPAY, transfer.provider_txn_id) is None:
            raise
        return Outcome("duplicate")
    if not matched:
        return Outcome("unmatched", payment=payment)
    assert order is not None
    return Outcome(order.status.value, order=order, payment=payment)


def _existing(session: Session, provider: str, txn_id: str) -> Payment | None:
    return session.scalar(
        select(Payment).where(Payment.provider == provider, Payment.provider_txn_id == txn_id)
    )


# -- the household's side -------------------------------------------------------------------------
def confirm_payment(
    session: Session,
    goc: Goc,
    *,
    actor: User,
    order: Order,
    method: PaymentMethod,
    amount_vnd: int | None = None,
) -> Payment:
    """The household received cash, or saw the transfer in its banking app; by default the
    amount still owed."""
    if actor.household_id != order.batch.household_id:
        raise Forbidden(_("You can only change your own household's orders."))
    if method is PaymentMethod.BANK_TRANSFER:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            errors={"method": [_("Choose cash or manual.")]},
        )
    begin_write(session)
    owed = order.amount_vnd - order.paid_vnd
    amount = owed if amount_vnd is None else amount_vnd
    if not 0 < amount <= MAX_AMOUNT_VND:
        raise ValidationFailed(
            _("Please correct the highlighted fields."),
            errors={"amount_vnd": [_("Enter the amount received.")]},
        )
    if order.status in (OrderStatus.PAID, OrderStatus.HANDED_OVER) and amount_vnd is None:
        raise Conflict(_("This order is already paid."), errors={"order": [_("Already paid.")]})
    payment = Payment(
        provider=BY_HOUSEHOLD,
        provider_txn_id=uuid.uuid4().hex,
        method=method,
        amount_vnd=amount,
        household_id=order.batch.household_id,
        recorded_by_id=actor.id,
    )
    session.add(payment)
    if not apply_payment(session, goc, order, payment):
        raise Conflict(
            _("This order expired and its stock has been sold; settle with the buyer directly."),
            errors={"order": [_("No stock left to hold for it.")]},
        )
    session.commit()
    return payment


def inbox(session: Session, actor: User) -> list[Payment]:
    """Transfers waiting to be assigned: to the actor's household's account, or (for the co-op
    admins) to an account that no household has."""
    query = select(Payment).where(Payment.order_id.is_(None)).order_by(Payment.id.desc())
    if actor.role is Role.ADMIN:
        query = query.where(Payment.household_id.is_(None))
    else:
        query = query.where(Payment.household_id == actor.household_id)
    return list(session.scalars(query.limit(200)))


def payments_of(session: Session, household: Household, *, limit: int = 200) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.household_id == household.id, Payment.order_id.is_not(None))
            .order_by(Payment.id.desc())
            .limit(limit)
        )
    )


def assign_payment(
    session: Session, goc: Goc, *, actor: User, payment_id: int, order_code: str
) -> Order:
    """Count an unmatched transfer from the actor's inbox (see :func:`inbox`) towards an order,
    by hand: a household's towards one of its own orders, one in the co-op admins' inbox (sent
    to an account no household has) towards any household's order, which then owns it."""
    admin = actor.role is Role.ADMIN
    if not admin and actor.household is None:
        raise Forbidden(_("Only a household can assign its transfers."))
    begin_write(session)
    payment = session.get(Payment, payment_id)
    inbox_of = None if admin else actor.household_id
    if payment is None or payment.household_id != inbox_of or payment.order_id is not None:
        raise NotFound(_("No such unassigned transfer."))
    code = (codes_in(order_code) or [order_code.strip().upper()])[0]
    try:
        if admin:
            order = session.scalar(select(Order).where(Order.code == code))
            if order is None:
                raise NotFound(_("No order with that code."))
        else:
            order = own_order(session, actor.household, code)
    except NotFound as exc:
        raise ValidationFailed(exc.message, errors={"order_code": [exc.message]}) from None
    if not apply_payment(session, goc, order, payment):
        raise Conflict(
            _("This order expired and its stock has been sold; settle with the buyer directly."),
            errors={"order_code": [_("No stock left to hold for it.")]},
        )
    payment.household_id = order.batch.household_id
    session.commit()
    return order

"""Orders: buyers order without an account (no token) and follow the order by its secret
token; a household puts its batches on sale with its bearer token."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..context import goc
from ..extensions import csrf, db
from ..models import Offer, Order
from ..services import orders as service
from .auth import ApiBlueprint, api_user, own_batch
from .body import request_body, submitted_fields
from .schemas import Link

blp = Blueprint(
    "orders",
    __name__,
    url_prefix="/api/v1",
    description="Buyers' orders: no account and no token needed; the order's secret token "
    "(in its link) reads its status.",
)
csrf.exempt(blp)  # no cookies play a part: nothing for a forged request to ride on
offers = ApiBlueprint("offers", __name__, description="Putting a household's batches on sale.")


class OrderInput(Schema):
    batch = fields.String(required=True, metadata={"description": "The batch's public code."})
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))
    buyer_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    buyer_phone = fields.String(
        required=True, metadata={"description": "A Vietnamese phone number, e.g. 0912 345 678."}
    )
    note = fields.String(
        validate=validate.Length(max=500), metadata={"description": "Pickup or delivery note."}
    )


class BankOut(Schema):
    bin = fields.String(attribute="bank_bin", metadata={"description": "NAPAS bank BIN."})
    name = fields.String(attribute="bank_name")
    account = fields.String()
    holder = fields.String()


def _instructions(order: Order) -> service.PaymentInstructions:
    return service.payment_instructions(order)


class PaymentOut(Schema):
    vietqr = fields.Function(
        lambda order: _instructions(order).vietqr,
        metadata={"description": "The dynamic VietQR (EMVCo) payload to show as a QR code."},
    )
    bank = fields.Function(lambda order: BankOut().dump(_instructions(order)))
    transfer_content = fields.Function(
        lambda order: order.code,
        metadata={"type": "string", "description": "The transfer content: the order code."},
    )


class OrderOut(PaymentOut):
    code = fields.String(metadata={"description": "Short order code, put in the transfer."})
    status = fields.Function(
        lambda order: order.status.value,
        metadata={
            "enum": ["pending", "partially_paid", "paid", "expired", "cancelled", "handed_over"]
        },
    )
    flag = fields.Function(
        lambda order: order.flag.value or None,
        metadata={"enum": ["short", "over", None], "description": "Paid too little or too much."},
    )
    batch = fields.String(attribute="batch.code")
    quantity = fields.Integer()
    unit = fields.String(attribute="batch.unit")
    amount = fields.Integer(attribute="amount_vnd", metadata={"description": "VND to pay."})
    paid = fields.Integer(attribute="paid_vnd", metadata={"description": "VND received."})
    expires_at = fields.DateTime()


class CreatedOrderOut(OrderOut):
    token = fields.String(
        metadata={"description": "Secret: reads the order. Shown only in this response."}
    )
    status_url = Link(
        lambda order: url_for("orders.get_order", token=order.token),
        description="This order's status in the API.",
    )
    order_url = Link(
        lambda order: url_for("storefront.orders.order", token=order.token),
        description="The buyer's order page, with the QR code to pay.",
    )


class OfferInput(Schema):
    price_vnd = fields.Integer(required=True, validate=validate.Range(min=1))
    available = fields.Integer(required=True, validate=validate.Range(min=0))
    on_sale = fields.Boolean(required=True)


class OfferOut(Schema):
    batch = fields.String(attribute="batch.code")
    price_vnd = fields.Integer()
    available = fields.Integer()
    on_sale = fields.Boolean()


class _Created:
    """An order with the token it was created with (the token is not stored)."""

    def __init__(self, placed: service.PlacedOrder) -> None:
        self.order = placed.order
        self.token = placed.token

    def __getattr__(self, name: str) -> Any:
        return getattr(self.order, name)


@blp.route("/orders", methods=["POST"])
@blp.doc(security=[])
@request_body(OrderInput)
@blp.response(201, CreatedOrderOut)
@blp.alt_response(400, response="BAD_REQUEST")
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def create_order() -> _Created:
    """Order units of a batch on sale; the units are held until the order expires"""
    placed = service.place_order(
        db.session, goc().settings, data=submitted_fields(), address=request.remote_addr or ""
    )
    return _Created(placed)


@blp.route("/orders/<token>")
@blp.doc(security=[])
@blp.response(200, OrderOut)
@blp.alt_response(404, response="NOT_FOUND")
def get_order(token: str) -> Order:
    """Read an order's status by its secret token"""
    return service.order_for_token(db.session, token)


@offers.route("/batches/<code>/offer", methods=["PUT"])
@request_body(OfferInput)
@offers.response(200, OfferOut)
@offers.write_errors
@offers.alt_response(404, response="NOT_FOUND")
def put_offer(code: str) -> Offer:
    """Set the caller's batch price per unit (VND), units available and whether it is on sale"""
    return service.set_offer(
        db.session, actor=api_user(), batch=own_batch(code), data=submitted_fields()
    )

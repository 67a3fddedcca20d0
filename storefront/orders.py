"""Buyers' orders: the order form of a batch on sale, and the order page ``/o/<token>`` with
the VietQR to pay and the live status (a small script polls; a reload works without it).

Order pages are private to whoever holds the link: never cached by shared caches.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from app.context import goc
from app.errors import Conflict, TooManyRequests, ValidationFailed
from app.extensions import csrf, db
from app.household.forms import FormField, submitted
from app.models import Batch, Order
from app.services import orders as service

from . import pages, qr

# Nested in the storefront blueprint (endpoints storefront.orders.*), which shows its form.
bp = Blueprint("orders", __name__)

ORDER_FIELDS = (
    FormField("quantity", _l("Quantity"), "number", required=True, minimum=1,
              maximum=service.MAX_QUANTITY, step="1", default="1", inputmode="numeric"),
    FormField("buyer_name", _l("Your name"), "text", required=True, max_length=120),
    FormField("buyer_phone", _l("Your phone number"), "tel", required=True, max_length=32),
    FormField("note", _l("Pickup or delivery note"), "textarea", max_length=500,
              hint=_l("Where and when you will pick up, or where to deliver.")),
)  # fmt: skip
STATUS_POLL_SECONDS = 5


def order_form(batch: Batch) -> dict[str, Any] | None:
    """What the batch page needs to show its order form, or None when not on sale."""
    offer = service.offer_of(db.session, batch)
    if offer is None or not offer.on_sale:
        return None
    return {"offer": offer, "fields": ORDER_FIELDS, "values": {"quantity": "1"}, "errors": {}}


def _private(response: Response) -> Response:
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


# No CSRF token: the form is anonymous and sits on a public, shared-cacheable page. A forged
# cross-site submission can do no more than anyone can do directly (as with POST
# /api/v1/orders): place an order in its own name, throttled per address like every order.
@csrf.exempt
@bp.route("/b/<code>/order", methods=["GET", "POST"])
def order_batch(code: str) -> ResponseReturnValue:
    batch = pages.batch_by_code(db.session, code)
    form = order_form(batch)
    status = 200
    if form is not None and request.method == "POST":
        try:
            placed = service.place_order(
                db.session,
                goc().settings,
                data={**submitted(request.form, ORDER_FIELDS), "batch": batch.code},
                address=request.remote_addr or "",
            )
            return redirect(url_for("storefront.orders.order", token=placed.token), code=303)
        except (ValidationFailed, Conflict, TooManyRequests) as refused:
            db.session.rollback()
            form = order_form(batch)
            if form is not None:
                form.update(values=request.form, errors=refused.errors, message=refused.message)
            status = refused.status
    page = render_template("storefront/order_form.html", batch=batch, order_form=form)
    return _private(Response(page, status=status, mimetype="text/html"))


def _order(token: str) -> Order:
    return service.order_for_token(db.session, token)


@bp.get("/o/<token>")
def order(token: str) -> Response:
    found = _order(token)
    page = render_template(
        "storefront/order.html",
        order=found,
        pay=service.payment_instructions(found),
        token=token,
        poll_seconds=STATUS_POLL_SECONDS,
    )
    return _private(Response(page, mimetype="text/html"))


@bp.get("/o/<token>/status.json")
def order_status(token: str) -> Response:
    found = _order(token)
    return _private(
        jsonify(
            {
                "code": found.code,
                "status": found.status.value,
                "flag": found.flag.value or None,
                "amount": found.amount_vnd,
                "paid": found.paid_vnd,
            }
        )
    )


@bp.get("/o/<token>/qr.png")
def order_qr(token: str) -> Response:
    payload = service.payment_instructions(_order(token)).vietqr
    size = qr.png_size(request.args.get("size", type=int))
    return _private(Response(qr.png(payload, size), mimetype="image/png"))

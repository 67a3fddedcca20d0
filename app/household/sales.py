"""The household's shop: putting a batch on sale, its orders and the money received (with the
inbox of transfers that named no order), confirming cash and handing orders over.

Routes on the household blueprint (members only); each action is a plain POST form.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..context import goc
from ..errors import DomainError, NotFound, ValidationFailed
from ..extensions import db
from ..models import OrderStatus, PaymentMethod
from ..services import orders as order_service
from ..services import payments as payment_service
from ..vietqr import BANKS_BY_BIN
from . import queries
from .forms import FormField
from .views import _form_page, _household, _member, bp

OFFER_FIELDS = [
    FormField("price_vnd", _l("Price per unit (VND)"), "number", required=True, minimum=1,
              maximum=order_service.MAX_PRICE_VND, step="1", inputmode="numeric"),
    FormField("available", _l("Quantity available"), "number", required=True, minimum=0,
              maximum=order_service.MAX_QUANTITY, step="1", inputmode="numeric",
              hint=_l("Units buyers can still order; orders being paid are not counted.")),
    FormField("on_sale", _l("On sale: buyers can order from the batch page"), "checkbox"),
]  # fmt: skip
METHODS = {"cash": PaymentMethod.CASH, "manual": PaymentMethod.MANUAL}


@bp.route("/batches/<code>/offer", methods=["GET", "POST"])
def offer(code: str) -> ResponseReturnValue:
    batch = queries.own_batch(db.session, _household(), code)
    current = order_service.offer_of(db.session, batch)
    initial = (
        {"price_vnd": str(current.price_vnd), "available": str(current.available),
         "on_sale": "1" if current.on_sale else ""}
        if current else {"on_sale": "1"}
    )  # fmt: skip

    def save() -> Response:
        order_service.set_offer(db.session, actor=_member(), batch=batch, data=request.form)
        flash(_("Sale settings saved."), "success")
        return redirect(url_for(".batch", code=batch.code))

    return _form_page("household/offer_form.html", OFFER_FIELDS, initial, save, batch=batch)


@bp.get("/orders")
def orders() -> ResponseReturnValue:
    household = _household()
    return render_template(
        "household/orders.html",
        orders=order_service.orders_of(db.session, household),
        inbox=payment_service.inbox(db.session, _member()),
        payments=payment_service.payments_of(db.session, household),
        bank=BANKS_BY_BIN.get(household.bank_bin),
        household=household,
        open_statuses=(OrderStatus.PENDING, OrderStatus.PARTIALLY_PAID, OrderStatus.EXPIRED),
    )


def _refused(error: DomainError) -> Response:
    db.session.rollback()
    if isinstance(error, NotFound):  # another household's things do not exist for you: 404
        raise error
    flash(error.summary(), "error")
    return redirect(url_for(".orders"))


@bp.post("/orders/<code>/confirm")
def confirm(code: str) -> Response:
    order = order_service.own_order(db.session, _household(), code)
    method = METHODS.get(request.form.get("method", ""))
    try:
        if method is None:
            raise ValidationFailed(
                _("Please correct the highlighted fields."),
                errors={"method": [_("Choose cash or manual.")]},
            )
        payment_service.confirm_payment(
            db.session, goc(), actor=_member(), order=order, method=method
        )
    except DomainError as error:
        return _refused(error)
    flash(_("Payment for order %(code)s confirmed.", code=code), "success")
    return redirect(url_for(".orders"))


@bp.post("/orders/<code>/hand-over")
def hand_over(code: str) -> Response:
    order = order_service.own_order(db.session, _household(), code)
    try:
        order_service.hand_over(db.session, actor=_member(), order=order)
    except DomainError as error:
        return _refused(error)
    flash(_("Order %(code)s handed over.", code=code), "success")
    return redirect(url_for(".orders"))


@bp.post("/payments/<int:payment_id>/assign")
def assign(payment_id: int) -> Response:
    try:
        order = payment_service.assign_payment(
            db.session,
            goc(),
            actor=_member(),
            payment_id=payment_id,
            order_code=request.form.get("order_code", ""),
        )
    except DomainError as error:
        return _refused(error)
    flash(_("Transfer assigned to order %(code)s.", code=order.code), "success")
    return redirect(url_for(".orders"))

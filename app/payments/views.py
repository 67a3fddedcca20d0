"""The bank-feed webhook. Answers in JSON whatever the caller accepts: SePay reads the status
and retries until it gets ``{"success": true}``.

The request is stored before anything else (app.services.payments.store_delivery); then it is
authenticated, parsed and applied. A refused request keeps its stored copy and its outcome.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext as _

from ..context import goc
from ..errors import DomainError
from ..extensions import csrf, db
from ..services import payments as service

bp = Blueprint("payments", __name__, url_prefix="/payments")
csrf.exempt(bp)  # called by the bank-feed service with its API key, never from a browser
MAX_BODY = 64 * 1024  # a SePay notification is well under 1 KB


@bp.errorhandler(DomainError)
def _refused(error: DomainError) -> Response:
    body = {"success": False, "code": error.status, "status": error.code, "message": error.message}
    if error.errors:
        body["errors"] = error.errors
    response = jsonify(body)
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Apikey realm="goc-payments"'
    return response


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


@bp.post("/webhook/sepay")
def sepay() -> Response:
    if (request.content_length or 0) > MAX_BODY:
        raise PayloadTooLarge(_("The webhook body is too large."), errors={"body": ["64 KB"]})
    body = request.get_data(cache=False)[: MAX_BODY + 1]
    if len(body) > MAX_BODY:
        raise PayloadTooLarge(_("The webhook body is too large."), errors={"body": ["64 KB"]})
    delivery = service.store_delivery(
        db.session,
        provider=service.SEPAY,
        headers=request.headers,
        body=body,
        address=request.remote_addr or "",
    )
    settings = goc().settings
    try:
        service.authenticate(
            key=settings.payment_webhook_key,
            hmac_secret=settings.payment_webhook_hmac_secret,
            headers=request.headers,
            body=body,
        )
        transfer = service.parse_sepay(body)
        outcome = service.process_transfer(db.session, goc(), transfer, delivery.id)
    except DomainError as refused:
        service.finish_delivery(db.session, delivery, refused.code, refused.message)
        raise
    except Exception as failed:
        service.finish_delivery(db.session, delivery, "error", repr(failed))
        raise
    detail = outcome.order.code if outcome.order is not None else ""
    service.finish_delivery(db.session, delivery, outcome.result, detail)
    response = jsonify({"success": True, "result": outcome.result, "order": detail or None})
    response.status_code = 200
    return response

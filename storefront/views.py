"""Public pages, opened by anyone from a QR code: no login, no JavaScript, cacheable.

A page's ETag is tied to the ledger's tree size (every change to what a page shows is a new
ledger entry), its language and its page number, so a repeat visit is a cheap 304.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from app.context import goc
from app.errors import NotFound
from app.extensions import db
from app.household import localtime
from app.household.queries import attached_photo_key
from app.household.views import photo_response
from app.models import Batch
from app.steps import as_statement_value

from . import orders, pages, qr

bp = Blueprint("storefront", __name__, template_folder="templates")
bp.register_blueprint(orders.bp)

PAGE_VERSION = "1"  # bump when templates change what a cached page looks like
PAGE_MAX_AGE = 60  # seconds a cache may show a page before asking again (ETag: cheap 304)
QR_MAX_AGE = 24 * 3600
LAST_PAGE = 10_000


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    return {"plain_number": as_statement_value, "localtime": localtime.display}


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> ResponseReturnValue:
    return render_template("storefront/not_found.html", message=error.message), 404


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)


def _cached(
    parts: tuple[object, ...], render: Callable[[], str], *, private: bool = False
) -> Response:
    """Render unless the client holds the same version (If-None-Match), then 304.
    A ``private`` page (it carries the visitor's CSRF token) is kept by the browser only."""
    key = "|".join(map(str, (PAGE_VERSION, goc().ledger.size(), get_locale(), *parts)))
    etag = hashlib.sha256(key.encode()).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(render(), mimetype="text/html")
    response.set_etag(etag)
    if private:
        response.cache_control.private = True
    else:
        response.cache_control.public = True
    response.cache_control.max_age = PAGE_MAX_AGE
    response.vary.add("Cookie")  # the chosen language lives in the session
    return response


def _batch_page(batch: Batch) -> Response:
    page = _page()
    form = orders.order_form(batch)
    # The order form shows the units left and the visitor's CSRF token: both key the ETag.
    selling = (form["offer"].available, form["offer"].price_vnd, generate_csrf()) if form else ()

    def render() -> str:
        data = pages.batch_page(db.session, goc(), batch, page)
        return render_template("storefront/batch.html", p=data, order_form=form)

    return _cached(("batch", batch.code, page, *selling), render, private=bool(form))


@bp.get("/b/<code>")
def batch(code: str) -> Response:
    return _batch_page(pages.batch_by_code(db.session, code))


@bp.get("/01/<gtin>/10/<lot>")
@bp.get("/01/<gtin>/10/<lot>/<path:qualifiers>")
def digital_link(gtin: str, lot: str, qualifiers: str = "") -> Response:
    """GS1 Digital Link: extra key qualifiers (/21/...) and attributes (?17=...) are ignored."""
    return _batch_page(pages.batch_by_digital_link(db.session, gtin, lot))


@bp.get("/h/<code>")
def household(code: str) -> Response:
    found = pages.household_by_code(db.session, code)

    def render() -> str:
        return render_template(
            "storefront/household.html",
            household=found,
            profile=pages.public_profile(found),
            batches=pages.household_batches(db.session, found),
            public_url=pages.household_url(goc(), found),
        )

    return _cached(("household", code), render)


@bp.get("/p/<sha256>.jpg")
def photo(sha256: str) -> Response:
    """A photo or thumbnail attached to some step; no other stored file is reachable."""
    return photo_response(attached_photo_key(db.session, sha256), sha256, public=True)


def _qr(url: str, kind: str) -> Response:
    if kind == "svg":
        data, mimetype, size = qr.svg(url), "image/svg+xml", 0
    else:
        size = qr.png_size(request.args.get("size", type=int))
        data, mimetype = qr.png(url, size), "image/png"
    response = Response(data, mimetype=mimetype)
    response.set_etag(hashlib.sha256(f"{url}|{kind}|{size}".encode()).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = QR_MAX_AGE
    return response.make_conditional(request)


@bp.get("/b/<code>/qr.<any(svg, png):kind>")
def batch_qr(code: str, kind: str) -> Response:
    return _qr(pages.batch_url(goc(), pages.batch_by_code(db.session, code)), kind)


@bp.get("/h/<code>/qr.<any(svg, png):kind>")
def household_qr(code: str, kind: str) -> Response:
    return _qr(pages.household_url(goc(), pages.household_by_code(db.session, code)), kind)

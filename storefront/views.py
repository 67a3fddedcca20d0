"""Public pages, opened by anyone from a QR code: no login, cacheable, complete without
JavaScript (a batch page's one script re-checks its ledger bundle on the buyer's device).

A page's ETag is tied to the ledger's tree size (every change to what a page shows is a new
ledger entry), its language and its page number, so a repeat visit is a cheap 304.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from werkzeug.wrappers import Response

from app.context import goc
from app.errors import NotFound
from app.extensions import db
from app.household import localtime
from app.household.queries import attached_photo_key
from app.household.views import photo_response
from app.steps import as_statement_value
from ledger import iter_subject_bundle
from ledger.encoding import format_time

from . import epcis, labels, orders, pages, qr
from .cache import LedgerState, batch_state, ledger_state, page_cache, recent_state
from .market import MarketFilters, market_page
from .verification import body_digest, trust_roots

bp = Blueprint(
    "storefront",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/storefront/static",
)
bp.register_blueprint(orders.bp)

PAGE_VERSION = "1"  # bump when templates change what a cached page looks like
PAGE_MAX_AGE = 60  # seconds a cache may show a page before asking again (ETag: cheap 304)
QR_MAX_AGE = 24 * 3600
LAST_PAGE = 10_000


@bp.context_processor
def _template_helpers() -> dict[str, object]:
    return {
        "plain_number": as_statement_value,
        "localtime": localtime.display,
        "statement_time": format_time,
        "body_digest": body_digest,
    }


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> ResponseReturnValue:
    return render_template("storefront/not_found.html", message=error.message), 404


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)


def _cached(
    parts: tuple[object, ...],
    render: Callable[[], str],
    state: LedgerState | None = None,
    mimetype: str = "text/html",
) -> Response:
    """304 if the client holds this version (If-None-Match); else the page this worker last
    rendered for it; else render it now and keep it. A page's version is its ``parts`` and the
    ledger ``state`` it shows (by default the tree size alone), see storefront.cache."""
    state = state or recent_state(("size",), lambda: ledger_state(goc().ledger, None))
    key = "|".join(
        map(str, (PAGE_VERSION, state.size, get_locale(), *parts, state.fingerprint, state.offer))
    )
    etag = hashlib.sha256(key.encode()).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(page_cache().get_or_make(etag, render), mimetype=mimetype)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = PAGE_MAX_AGE
    response.vary.add("Cookie")  # the chosen language lives in the session
    return response


def _batch_page(code: str) -> Response:
    page = _page()
    # On a cached page this is the request's one query (if any); the batch is read to render.
    state = recent_state(("batch", code), lambda: batch_state(goc().ledger, code))
    if state is None:
        pages.batch_by_code(db.session, code)  # a friendly 404 for an unknown code

    def render() -> str:
        batch = pages.batch_by_code(db.session, code)
        data = pages.batch_page(db.session, goc(), batch, page)
        return render_template(
            "storefront/batch.html",
            p=data,
            trust=trust_roots(goc().ledger),
            order_form=orders.order_form(batch),
        )

    return _cached(("batch", code, page), render, state)


@bp.get("/")
def market() -> Response:
    """The marketplace home: batches across the hamlet, newest first."""
    filters = MarketFilters.from_args(request.args)
    page = _page()

    def render() -> str:
        data = market_page(db.session, filters, page)
        return render_template("storefront/market.html", m=data, filters=filters)

    return _cached(("market", filters.query, filters.product, filters.commune, page), render)


@bp.get("/b/<code>")
def batch(code: str) -> Response:
    return _batch_page(code)


@bp.get("/b/<code>/export")
def batch_export(code: str) -> Response:
    """The batch's subject bundle (docs/ledger-format.md, "Export bundle"): its entries and its
    signers' key entries, each with its inclusion proof against the latest checkpoint. The
    batch page's script verifies it on the buyer's device; ``python -m ledger verify`` too."""
    found = pages.batch_by_code(db.session, code)
    ledger = goc().ledger

    def render() -> str:
        return "".join(iter_subject_bundle(ledger, ledger.origin, found.subject))

    response = _cached(
        ("export", found.code),
        render,
        ledger_state(ledger, found.subject),
        mimetype="application/jsonl",
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{found.code}.jsonl"'
    return response


@bp.get("/b/<code>/epcis.jsonld")
def batch_epcis(code: str) -> Response:
    """The batch as an EPCIS 2.0 JSON-LD document (storefront.epcis)."""
    found = pages.batch_by_code(db.session, code)
    document = epcis.batch_document(
        goc().settings.public_base_url, found, list(found.steps), now=datetime.now(UTC)
    )
    return Response(json.dumps(document, ensure_ascii=False), mimetype=epcis.MEDIA_TYPE)


@bp.get("/01/<gtin>/10/<lot>")
@bp.get("/01/<gtin>/10/<lot>/<path:qualifiers>")
def digital_link(gtin: str, lot: str, qualifiers: str = "") -> Response:
    """GS1 Digital Link: extra key qualifiers (/21/...) and attributes (?17=...) are ignored."""
    return _batch_page(pages.batch_by_digital_link(db.session, gtin, lot).code)


@bp.get("/b/<code>/labels")
def batch_labels(code: str) -> Response:
    """An A4 sheet of stickers for the batch, to print (public: it shows only public data)."""
    found = pages.batch_by_code(db.session, code)
    layout = labels.layout(request.args.get("per_page"))

    def render() -> str:
        return render_template(
            "storefront/labels.html",
            batch=found,
            layout=layout,
            layouts=labels.LAYOUTS,
            public_url=pages.batch_url(goc(), found),
        )

    return _cached(("labels", code, layout.per_page), render)


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

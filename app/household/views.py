"""Household pages: a member's batches, their steps and the household profile.

Built for a cheap phone on a weak connection: plain HTML forms (no JavaScript), one-time form
tokens so a re-sent form records once, and photos served only to their owners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import exports
from ..context import goc
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db, login_manager
from ..models import Household, User
from ..models._types import MAX_INTEGER
from ..services.batches import MAX_PHOTOS, correct_step, create_batch, record_step
from ..services.households import update_profile
from ..services.orders import offer_of
from ..services.photos import prepare_photo
from ..steps import STEP_TYPES, StepType, as_statement_value
from ..storage import StorageNotFoundError
from . import forms, localtime, queries
from .forms import FormField

bp = Blueprint("household", __name__, url_prefix="/household")

# Photos are stored by the SHA-256 of their bytes, so a URL's content never changes.
PHOTO_MAX_AGE = 365 * 24 * 3600
LAST_PAGE = 10_000  # keeps a typed ?page= inside what the database can offset by


@bp.before_request
def _members_only() -> ResponseReturnValue | None:
    """Household pages are for household members; the co-op's team has its own area."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.is_admin:
        return redirect(url_for("admin.overview"))
    if current_user.household is None:
        raise Forbidden(_("This account does not belong to a household."))
    return None


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "plain_number": as_statement_value,
        "max_photos": MAX_PHOTOS,
        "localtime": localtime.display,
    }


def _member() -> User:
    user: User = current_user._get_current_object()
    return user


def _household() -> Household:
    household: Household = _member().household
    return household


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)


def _step_type(kind: str) -> StepType:
    step_type = STEP_TYPES.get(kind)
    if step_type is None:
        raise NotFound(
            _("Unknown step type."),
            errors={"kind": [_("Choose one of the step buttons on the batch page.")]},
        )
    return step_type


def _form_page(
    template: str,
    form_fields: Iterable[FormField],
    initial: Mapping[str, str],
    save: Callable[[], Response],
    **context: Any,
) -> ResponseReturnValue:
    """Show a form, or on POST run ``save`` (parse, call a service, redirect). If the service
    refuses the input, show the form again with what was sent and the messages per field."""
    form_fields = list(form_fields)
    failure: DomainError | None = None
    values: Mapping[str, str] = initial
    if request.method == "POST":
        try:
            return save()
        except (ValidationFailed, Conflict) as refused:
            db.session.rollback()  # nothing of the refused attempt stays in the session
            failure, values = refused, request.form
    page = render_template(
        template,
        fields=form_fields,
        values=values,
        errors=failure.errors if failure else {},
        message=failure.message if failure else None,
        # A fresh token each time the form is shown: a refused attempt recorded nothing.
        form_token=forms.new_form_token(),
        **context,
    )
    return page, failure.status if failure else 200


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    household = _household()
    page = _page()
    summaries, more = queries.batch_summaries(db.session, household, page)
    return render_template(
        "household/dashboard.html",
        household=household,
        summaries=summaries,
        page=page,
        more=more,
    )


@bp.get("/steps.csv")
def steps_csv() -> Response:
    """The household's own steps as CSV (never another household's: there is no code here)."""
    household = _household()
    return exports.csv_response(
        exports.steps_csv(db.session, household), f"goc-{household.code}-steps.csv"
    )


@bp.route("/batches/new", methods=["GET", "POST"])
def new_batch() -> ResponseReturnValue:
    def save() -> Response:
        batch = create_batch(
            db.session,
            goc(),
            actor=_member(),
            data=forms.submitted(request.form, forms.BATCH_FIELDS),
            idempotency_key=forms.idempotency_key(request.form),
        )
        flash(_("Batch %(code)s created.", code=batch.code), "success")
        return redirect(url_for(".batch", code=batch.code))

    initial = {**forms.defaults(forms.BATCH_FIELDS), "start_date": str(localtime.local_today())}
    return _form_page("household/batch_form.html", forms.BATCH_FIELDS, initial, save)


@bp.get("/batches/<code>")
def batch(code: str) -> ResponseReturnValue:
    found = queries.own_batch(db.session, _household(), code)
    page = _page()
    items, more = queries.timeline(db.session, found, page)
    return render_template(
        "household/batch.html",
        batch=found,
        items=items,
        page=page,
        more=more,
        step_types=STEP_TYPES.values(),
        offer=offer_of(db.session, found),
    )


@bp.route("/batches/<code>/steps/<kind>/new", methods=["GET", "POST"])
def record(code: str, kind: str) -> ResponseReturnValue:
    found = queries.own_batch(db.session, _household(), code)
    step_type = _step_type(kind)
    form_fields = forms.step_fields(step_type)

    def save() -> Response:
        key = forms.idempotency_key(request.form)
        keep_location = _household().share_location
        photos = [
            prepare_photo(data, keep_location=keep_location)
            for data in forms.uploaded_photos(request.files)
        ]
        step = record_step(
            db.session,
            goc(),
            actor=_member(),
            batch=found,
            kind=kind,
            data=forms.submitted(request.form, form_fields),
            photos=photos,
            idempotency_key=key,
        )
        # Only now, with the ledger entry committed, is the household told it is recorded.
        flash(
            _("%(kind)s recorded as ledger entry #%(seq)d.", kind=step_type.label, seq=step.seq),
            "success",
        )
        return redirect(url_for(".batch", code=found.code, _anchor=f"step-{step.id}"))

    return _form_page(
        "household/step_form.html",
        form_fields,
        forms.defaults(form_fields),
        save,
        batch=found,
        step_type=step_type,
        photos=forms.PHOTOS_FIELD,
    )


@bp.route(f"/steps/<int(max={MAX_INTEGER}):step_id>/correct", methods=["GET", "POST"])
def correct(step_id: int) -> ResponseReturnValue:
    chosen = queries.own_step(db.session, _household(), step_id)
    # A correction is itself corrected by correcting the original step again.
    original = chosen.corrects or chosen
    form_fields = forms.step_fields(STEP_TYPES[original.kind])
    recorded = forms.step_values(original, form_fields)

    def save() -> Response:
        correction = correct_step(
            db.session,
            goc(),
            actor=_member(),
            step=original,
            data=forms.correction(request.form, form_fields, recorded),
            idempotency_key=forms.idempotency_key(request.form),
        )
        flash(_("Correction recorded as ledger entry #%(seq)d.", seq=correction.seq), "success")
        return redirect(url_for(".batch", code=original.batch.code, _anchor=f"step-{original.id}"))

    return _form_page(
        "household/correct_form.html",
        form_fields,
        recorded,
        save,
        step=original,
        step_type=STEP_TYPES[original.kind],
        reason=forms.REASON_FIELD,
        when=localtime.display(original.occurred_at),
    )


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> ResponseReturnValue:
    household = _household()

    def save() -> Response:
        public, private = forms.profile_changes(request.form)
        update_profile(
            db.session, goc(), actor=_member(), household=household, public=public, private=private
        )
        flash(_("Profile saved."), "success")
        return redirect(url_for(".profile"))

    return _form_page(
        "household/profile.html",
        [*forms.PUBLIC_PROFILE_FIELDS, *forms.PRIVATE_PROFILE_FIELDS],
        forms.profile_values(household),
        save,
        public_fields=forms.PUBLIC_PROFILE_FIELDS,
        private_fields=forms.PRIVATE_PROFILE_FIELDS,
    )


@bp.get("/photos/<sha256>.jpg")
def photo(sha256: str) -> Response:
    """A photo or thumbnail of one of the household's steps (public pages come with the shop)."""
    return photo_response(queries.owned_photo_key(db.session, _household(), sha256), sha256)


def photo_response(key: str, sha256: str, *, public: bool = False) -> Response:
    """A stored photo, cached for a year (its URL names its content); ``public`` lets shared
    caches keep it too (storefront photos)."""
    try:
        data = goc().storage.get(key)
    except StorageNotFoundError:
        raise NotFound(_("No such photo.")) from None
    response = Response(data, mimetype="image/jpeg")
    response.set_etag(sha256)
    if public:
        response.cache_control.public = True
    else:
        response.cache_control.private = True
    response.cache_control.max_age = PHOTO_MAX_AGE
    response.cache_control.immutable = True
    return response.make_conditional(request)

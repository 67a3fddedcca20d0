"""Co-op admin pages: the hamlet overview, enrolling households, their keys and profiles.

Only the co-op's digital team (``Role.ADMIN``) gets in: anonymous visitors are sent to the login
page, households get 403. The views read forms and call the services; nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import exports
from ..context import goc
from ..errors import Conflict, DomainError, ValidationFailed
from ..extensions import db, login_manager
from ..household import localtime
from ..household.forms import PRIVATE_PROFILE_FIELDS, PUBLIC_PROFILE_FIELDS, FormField
from ..household.forms import profile_values as stored_profile
from ..household.queries import timeline
from ..models import Batch, Household, User
from ..models.households import PUBLIC_FIELDS
from ..services import payments
from ..services.hamlet import household_summaries, indicators
from ..services.households import (
    enroll_household,
    get_household,
    national_phone,
    reissue_key,
    revoke_key,
    update_profile,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")

MAX_REASON = 200
# The household pages describe the profile fields once and the admin forms reuse them. The
# co-op edits the public profile, contact phone and photo locations; the payout account stays
# the household's own (nobody else should be able to redirect its payments).
_SHARE_LOCATION = [f for f in PRIVATE_PROFILE_FIELDS if f.name == "share_location"]
EDIT_PRIVATE_FIELDS = [f for f in PRIVATE_PROFILE_FIELDS if f.name == "phone"] + _SHARE_LOCATION
LOGIN_FIELDS = [
    FormField(
        "member_name",
        _l("Member who logs in"),
        "text",
        max_length=120,
        hint=_l("Leave empty to use the head of household."),
    ),
    FormField("phone", _l("Login phone number"), "tel", required=True, max_length=20),
    FormField(
        "password",
        _l("Initial password"),
        "password",
        required=True,
        max_length=128,
        hint=_l("At least 8 characters. Give it to the household in person."),
    ),
    *_SHARE_LOCATION,
]


@bp.before_request
def _admins_only() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"localtime": localtime.display, "phone": national_phone}


def _actor() -> User:
    user: User = current_user._get_current_object()
    return user


def _form_page(template: str, refused: DomainError | None, **context: Any) -> ResponseReturnValue:
    """A form page, again with the messages per field if a service refused what was sent."""
    page = render_template(
        template,
        errors=refused.errors if refused else {},
        message=refused.message if refused else None,
        **context,
    )
    return page, refused.status if refused else 200


def _public_profile() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in PUBLIC_FIELDS}


@bp.get("/")
def overview() -> ResponseReturnValue:
    return render_template(
        "admin/overview.html",
        households=household_summaries(db.session),
        indicators=indicators(db.session),
        waiting=len(payments.inbox(db.session, _actor())),
    )


@bp.get("/payments")
def payments_inbox() -> ResponseReturnValue:
    """Transfers to an account that no household has, waiting to be assigned to an order."""
    return render_template("admin/payments.html", inbox=payments.inbox(db.session, _actor()))


@bp.post("/payments/<int:payment_id>/assign")
def assign_payment(payment_id: int) -> ResponseReturnValue:
    try:
        order = payments.assign_payment(
            db.session,
            goc(),
            actor=_actor(),
            payment_id=payment_id,
            order_code=request.form.get("order_code", ""),
        )
    except (ValidationFailed, Conflict) as refused:
        db.session.rollback()
        flash(refused.summary(), "error")
        return redirect(url_for(".payments_inbox"))
    flash(_("Transfer assigned to order %(code)s.", code=order.code), "success")
    return redirect(url_for(".payments_inbox"))


@bp.get("/steps.csv")
def hamlet_steps_csv() -> Response:
    """Every household's steps as CSV, for the co-op's spreadsheets."""
    return exports.csv_response(exports.steps_csv(db.session), "goc-hamlet-steps.csv")


@bp.get("/households/<code>/steps.csv")
def household_steps_csv(code: str) -> Response:
    household = get_household(db.session, code)
    return exports.csv_response(
        exports.steps_csv(db.session, household), f"goc-{household.code}-steps.csv"
    )


@bp.route("/households/new", methods=["GET", "POST"])
def enroll() -> ResponseReturnValue:
    context = {"public_fields": PUBLIC_PROFILE_FIELDS, "login_fields": LOGIN_FIELDS}
    if request.method == "GET":
        return _form_page("admin/enroll.html", None, values={}, **context)
    form = request.form
    try:
        household = enroll_household(
            db.session,
            goc(),
            actor=_actor(),
            profile=_public_profile(),
            phone=form.get("phone", ""),
            password=form.get("password", ""),
            member_name=form.get("member_name", ""),
            share_location="share_location" in form,
        )
    except ValidationFailed as refused:
        db.session.rollback()
        sent = {k: v for k, v in form.items() if k != "password"}  # never echo a password
        return _form_page("admin/enroll.html", refused, values=sent, **context)
    flash(_("%(name)s is enrolled and can log in now.", name=household.head_name), "success")
    return redirect(url_for(".household", code=household.code))


def _household_page(
    household: Household, refused: DomainError | None = None
) -> ResponseReturnValue:
    batches = db.session.scalars(
        select(Batch).where(Batch.household_id == household.id).order_by(Batch.id.desc())
    ).all()
    members = db.session.scalars(
        select(User).where(User.household_id == household.id).order_by(User.id)
    ).all()
    return _form_page(
        "admin/household.html",
        refused,
        household=household,
        members=members,
        timelines=[(batch, *timeline(db.session, batch, 1)) for batch in batches],
        public_fields=PUBLIC_PROFILE_FIELDS,
        max_reason=MAX_REASON,
    )


@bp.get("/households/<code>")
def household(code: str) -> ResponseReturnValue:
    return _household_page(get_household(db.session, code))


def _key_action(
    code: str, action: str, service: Callable[..., Any], done: str
) -> ResponseReturnValue:
    """Revoke or reissue the household's key, with the reason typed into ``action``'s form."""
    household = get_household(db.session, code)
    reason = request.form.get("reason", "").strip()
    try:
        if not reason or len(reason) > MAX_REASON:
            raise ValidationFailed(
                _("Please give a reason."),
                errors={action: [_("Give a reason of at most %(n)d characters.", n=MAX_REASON)]},
            )
        service(db.session, goc(), actor=_actor(), household=household, reason=reason)
    except (ValidationFailed, Conflict) as refused:
        db.session.rollback()
        if not refused.errors:
            refused.errors = {action: [refused.message]}
        return _household_page(household, refused)
    flash(done, "success")
    return redirect(url_for(".household", code=code, _anchor="keys"))


@bp.post("/households/<code>/key/reissue")
def reissue(code: str) -> ResponseReturnValue:
    return _key_action(
        code,
        "reissue",
        reissue_key,
        _("A new signing key is active. Steps signed with the old key stay valid."),
    )


@bp.post("/households/<code>/key/revoke")
def revoke(code: str) -> ResponseReturnValue:
    return _key_action(
        code,
        "revoke",
        revoke_key,
        _("The key is revoked. The household cannot record steps until a new key is issued."),
    )


@bp.route("/households/<code>/edit", methods=["GET", "POST"])
def edit(code: str) -> ResponseReturnValue:
    household = get_household(db.session, code)
    context = {
        "household": household,
        "public_fields": PUBLIC_PROFILE_FIELDS,
        "private_fields": EDIT_PRIVATE_FIELDS,
    }
    if request.method == "GET":
        return _form_page("admin/edit.html", None, values=stored_profile(household), **context)
    private: dict[str, Any] = {
        "phone": request.form.get("phone", "").strip(),
        "share_location": "share_location" in request.form,
    }
    try:
        update_profile(
            db.session,
            goc(),
            actor=_actor(),
            household=household,
            public=_public_profile(),
            private=private,
        )
    except ValidationFailed as refused:
        db.session.rollback()
        return _form_page("admin/edit.html", refused, values=request.form, **context)
    flash(_("Profile saved."), "success")
    return redirect(url_for(".household", code=code))

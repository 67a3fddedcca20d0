"""Logging in and out with a phone number and password."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from ..errors import TooManyRequests, ValidationFailed
from ..extensions import db
from ..services.accounts import authenticate

bp = Blueprint("auth", __name__, url_prefix="/auth")


def home_for(user: object) -> str:
    return (
        url_for("admin.overview")
        if getattr(user, "is_admin", False)
        else url_for("household.dashboard")
    )


def home_url() -> str:
    """The start page: the user's own area once logged in, else the login page."""
    return home_for(current_user) if current_user.is_authenticated else url_for("auth.login")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("auth/login.html", phone="", errors={})
    phone = request.form.get("phone", "")
    try:
        user = authenticate(
            db.session,
            phone=phone,
            password=request.form.get("password", ""),
            address=request.remote_addr or "",
        )
    except (ValidationFailed, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 401
        return render_template(
            "auth/login.html", phone=phone, errors={"password": [exc.message]}
        ), status
    language = session.get("lang")
    session.clear()  # a fresh session on login: nothing set before it survives (no fixation)
    if language:
        session["lang"] = language
    login_user(user)
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = home_for(user)
    return redirect(target)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))

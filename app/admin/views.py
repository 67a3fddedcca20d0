"""Co-op admin pages (filled in by the admin views work)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@login_required
def overview() -> str:
    return "admin"

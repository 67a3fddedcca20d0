"""Household pages (filled in by the household views work)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("household", __name__, url_prefix="/household")


@bp.route("/")
@login_required
def dashboard() -> str:
    return "household"

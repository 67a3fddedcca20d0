"""Photos of the caller household's steps, by the SHA-256 recorded in the ledger."""

from __future__ import annotations

from flask import Response

from ..context import goc
from ..services.photos import photo_key
from .auth import ApiBlueprint, own_photo
from .schemas import PhotoQuery

blp = ApiBlueprint("photos", __name__, description="Photos attached to steps.")

JPEG = {"type": "string", "format": "binary"}


@blp.route("/photos/<sha256>")
@blp.arguments(PhotoQuery, location="query", as_kwargs=True)
@blp.response(200, JPEG, content_type="image/jpeg", description="The JPEG.")
@blp.alt_response(404, response="NOT_FOUND")
def get_photo(sha256: str, thumbnail: bool) -> Response:
    """Download a step photo or its thumbnail"""
    photo = own_photo(sha256)
    digest = photo.thumb_sha256 if thumbnail else photo.sha256
    response = Response(goc().storage.get(photo_key(digest)), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response

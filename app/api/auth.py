"""Bearer-token authentication and the caller's reach: every API operation runs as the user
whose token is in ``Authorization: Bearer <token>`` and sees only its own household's data."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from sqlalchemy import select

from ..errors import DomainError, Forbidden, NotFound
from ..extensions import csrf, db
from ..models import Batch, Household, Photo, Step, StepPhoto, User
from ..services.accounts import user_for_token
from ..services.batches import get_batch

BEARER_AUTH = "bearerAuth"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A household's API token, sent as `Authorization: Bearer <token>`.",
}

WRITE_ERRORS = (
    (400, "BAD_REQUEST"),
    (409, "CONFLICT"),
    (415, "UNSUPPORTED_MEDIA_TYPE"),
    (422, "UNPROCESSABLE_ENTITY"),
)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class ApiBlueprint(Blueprint):
    """A blueprint of the JSON API under /api/v1.

    Every operation needs a bearer token: enforced before each request and declared on each
    operation in the OpenAPI document. Cookies play no part, so CSRF protection does not apply.
    """

    def __init__(self, name: str, import_name: str, **kwargs: Any) -> None:
        super().__init__(name, import_name, url_prefix="/api/v1", **kwargs)
        self.before_request(authenticate)
        self.after_request(_challenge)
        csrf.exempt(self)

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Any = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if view_func is not None:
            view_func = self.doc(security=[{BEARER_AUTH: []}])(
                self.alt_response(401, response="UNAUTHORIZED")(
                    self.alt_response(403, response="FORBIDDEN")(view_func)
                )
            )
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    def write_errors(self, view: Any) -> Any:
        """Document the error responses every write operation can give."""
        for status, response in WRITE_ERRORS:
            view = self.alt_response(status, response=response)(view)
        return view


def authenticate() -> None:
    """Find the user of the request's bearer token, or refuse the request with 401."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthorized(
            _("An API token is required."),
            errors={"Authorization": [_("Send the header Authorization: Bearer <token>.")]},
        )
    scheme, _space, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            _("Use the Bearer scheme."),
            errors={"Authorization": [_("Send the header Authorization: Bearer <token>.")]},
        )
    user = user_for_token(db.session, token)
    if user is None:
        raise Unauthorized(
            _("The API token is invalid or has been revoked."),
            errors={"Authorization": [_("Unknown or revoked token.")]},
        )
    g.api_user = user


def _challenge(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="goc"'
    return response


def api_user() -> User:
    user: User = g.api_user
    return user


def api_household() -> Household:
    household: Household | None = api_user().household
    if household is None:
        raise Forbidden(_("The API is for household accounts."))
    return household


def own_batch(code: str) -> Batch:
    """The caller's batch; another household's batch is reported as missing."""
    batch = get_batch(db.session, code)
    if batch.household_id != api_household().id:
        raise NotFound(_("No batch with that code."))
    return batch


def own_step(seq: int) -> Step:
    """The caller's step with ledger sequence number ``seq``."""
    step = db.session.scalar(
        select(Step)
        .join(Batch, Step.batch_id == Batch.id)
        .where(Step.seq == seq, Batch.household_id == api_household().id)
    )
    if step is None:
        raise NotFound(_("No step with that number."))
    return step


def own_photo(sha256: str) -> Photo:
    """A photo attached to one of the caller's steps."""
    photo = db.session.scalar(
        select(Photo)
        .join(StepPhoto, StepPhoto.photo_sha256 == Photo.sha256)
        .join(Step, StepPhoto.step_id == Step.id)
        .join(Batch, Step.batch_id == Batch.id)
        .where(Photo.sha256 == sha256, Batch.household_id == api_household().id)
        .limit(1)
    )
    if photo is None:
        raise NotFound(_("No photo with that digest."))
    return photo

"""Request bodies of the API: read as plain mappings and handed to the services, which validate
them with the schemas of app.steps (the single source of truth); documented here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from werkzeug.datastructures import FileStorage

from ..errors import DomainError, ValidationFailed

JSON = "application/json"
MULTIPART = "multipart/form-data"
PHOTOS = "photos"


class MalformedBody(DomainError):
    status = 400
    code = "bad_request"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


def request_body(
    json: Any, *, multipart: Any = None, description: str | None = None
) -> Callable[[Any], Any]:
    """Document the operation's request body: a JSON schema and, optionally, a multipart one."""
    content = {JSON: {"schema": json}}
    if multipart is not None:
        content[MULTIPART] = {"schema": multipart}
    body: dict[str, Any] = {"required": True, "content": content}
    if description:
        body["description"] = description
    return Blueprint.doc(requestBody=body)


def submitted_fields(*, multipart: bool = False) -> dict[str, Any]:
    """The request's fields: a JSON object or, where ``multipart``, a form's text fields."""
    if multipart and request.mimetype == MULTIPART:
        unexpected = [name for name in request.files if name != PHOTOS]
        if unexpected:
            raise ValidationFailed(
                _("Please correct the highlighted fields."),
                errors={name: [_("Send photos as files named photos.")] for name in unexpected},
            )
        return request.form.to_dict()
    if not request.is_json:
        accepted = f"{JSON} or {MULTIPART}" if multipart else JSON
        raise UnsupportedMediaType(
            _("Unsupported content type."),
            errors={"Content-Type": [_("Send %(types)s.", types=accepted)]},
        )
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise MalformedBody(
            _("The request body is not a JSON object."),
            errors={"body": [_("Send a well-formed JSON object.")]},
        )
    return data


def uploaded_photos() -> list[FileStorage]:
    return request.files.getlist(PHOTOS)

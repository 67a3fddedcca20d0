"""Domain errors raised by services, and the one place that maps them to HTTP (HTML or JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from ledger import InvalidStatementError

from .extensions import db


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})

    def summary(self) -> str:
        """The message and every field's messages, in one line (for a flashed notice)."""
        details = [" ".join(map(str, m)) for m in self.errors.values() if isinstance(m, list)]
        return " ".join([self.message, *details])


class ValidationFailed(DomainError):
    """Input is invalid; ``errors`` maps each field to its messages."""

    status = 422
    code = "validation_failed"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/ledger/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def error_response(
    status: int, code: str, message: str, errors: Mapping[str, Any] | None = None
) -> Response:
    if wants_json():
        body: dict[str, Any] = {"code": status, "status": code, "message": message}
        if errors:
            body["errors"] = dict(errors)
        response = jsonify(body)
    else:
        response = Response(
            render_template("error.html", status=status, message=message, errors=errors or {}),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def connection_lost(error: SQLAlchemyError) -> bool:
    """Whether ``error`` says the database connection is gone, not that a statement is wrong."""
    return isinstance(error, OperationalError | PendingRollbackError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def init_app(app: Flask) -> None:
    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (teardowns run in
    # reverse): the session's closing rollback fails when the connection was killed after the
    # response was made, and that error would otherwise replace the response with a 500.
    @app.teardown_appcontext
    def _close_session(_error: BaseException | None) -> None:
        try:
            db.session.remove()
        except SQLAlchemyError as error:
            if not connection_lost(error):
                raise
            app.logger.warning("database connection lost while closing the session: %s", error)
            db.session.registry.clear()  # the next request starts a session of its own

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        return error_response(error.status, error.code, error.message, error.errors)

    @app.errorhandler(InvalidStatementError)
    def _statement(error: InvalidStatementError) -> Response:
        field = error.field or "statement"
        return error_response(422, "validation_failed", str(error), {field: [error.reason]})

    @app.errorhandler(SQLAlchemyError)
    def _database_unavailable(error: SQLAlchemyError) -> Response:
        # The database went away mid-request (restart, failover, a killed connection): nothing
        # was committed, so the client may safely retry (with the same Idempotency-Key).
        if not connection_lost(error):
            raise error  # a real bug: a 500, logged with its traceback
        app.logger.warning("database unavailable: %s", error)
        message = _("The service is briefly unavailable. Please try again in a moment.")
        response = error_response(503, "service_unavailable", message)
        response.headers["Retry-After"] = "2"
        return response

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        messages = {
            400: _("The request could not be understood."),
            401: _("Please log in."),
            403: _("You are not allowed to do that."),
            404: _("We could not find that page."),
            405: _("That method is not allowed here."),
            413: _("The upload is too large (at most 10 MB per photo)."),
            422: _("Please correct the highlighted fields."),  # webargs (API parameters)
            429: _("Too many attempts. Please wait a few minutes and try again."),
        }
        status = error.code or 500
        errors = getattr(error, "data", {}).get("messages") if hasattr(error, "data") else None
        message = messages.get(status, error.description or error.name)
        if status == 400 and error.description and "CSRF" in error.description:
            message = _("The form has expired. Please go back, reload the page and try again.")
        code = ValidationFailed.code if status == 422 else error.name.lower().replace(" ", "_")
        response = error_response(status, code, message, _flatten(errors))
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def _flatten(errors: Any) -> dict[str, Any] | None:
    """webargs nests errors by location ({"json": {...}}); API clients want field names."""
    if not isinstance(errors, Mapping):
        return None
    flat: dict[str, Any] = {}
    for location, fields in errors.items():
        if isinstance(fields, Mapping):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat

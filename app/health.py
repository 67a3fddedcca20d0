"""Operations: ``GET /healthz`` for load balancers and monitors, and one JSON log line per request.

The health check answers 200 with the ledger's tree size while the database answers, else 503,
so a proxy takes a host out of rotation when its database is unreachable. It needs no login.
Logs are JSON lines on stderr (python-json-logger) for the process manager to collect.
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from typing import IO

from flask import Blueprint, Flask, Response, g, jsonify, request
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.exc import SQLAlchemyError

from .context import goc

bp = Blueprint("health", __name__)
REQUEST_LOG = "goc.request"
REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID = 64


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        size = goc().ledger.size()
    except SQLAlchemyError as exc:
        logging.getLogger(__name__).warning("health check: database unreachable: %s", exc)
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok", tree_size=size), 200


def _request_id() -> str:
    """The proxy's request id when it sent a sane one (to follow a request across hosts)."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(sent) <= MAX_REQUEST_ID and sent.isascii() and sent.isprintable():
        return sent
    return secrets.token_hex(8)


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when each record is written, not when the handler was
    made (test runners and some servers replace it)."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def init_app(app: Flask) -> None:
    logger = logging.getLogger(REQUEST_LOG)
    if not logger.handlers:  # one handler per process, however many apps it builds (tests)
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter(timestamp=True))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    app.register_blueprint(bp)

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = _request_id()

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "request_id": g.get("request_id"),
            },
        )
        return response

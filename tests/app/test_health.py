"""``GET /healthz`` and the JSON request log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.context import goc
from app.extensions import db
from tests.conftest import PG_URL


def test_healthz_reports_the_tree_size(app: Any, client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    with app.app_context():
        size = goc().ledger.size()
    assert size > 0
    assert response.get_json() == {"status": "ok", "database": "ok", "tree_size": size}


def test_healthz_is_503_when_the_database_is_down(
    app: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        ledger = goc().ledger

    def unreachable(*_: Any, **__: Any) -> int:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(ledger, "size", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_one_json_line_per_request(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    response = client.get("/no-such-page")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    records = [r for r in lines if r.get("message") == "request"]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/healthz", 200),
        ("GET", "/no-such-page", 404),
    ]
    assert records[0]["request_id"] == "abc-123"
    assert records[1]["request_id"] == response.headers["X-Request-ID"]
    assert all(isinstance(r["duration_ms"], float) and "timestamp" in r for r in records)


def test_a_lost_database_connection_is_503_retry(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was committed: the client is told to retry (with the same Idempotency-Key)."""

    def gone(*_: Any, **__: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("terminating connection"))

    monkeypatch.setattr("app.api.auth.user_for_token", gone)
    response = client.get("/api/v1/batches", headers={"Authorization": "Bearer goc_x"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["status"] == "service_unavailable"


if PG_URL:  # a connection killed for real, as pg_terminate_backend does in bench/load.py

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_a_connection_killed_after_the_response_is_made_is_not_a_500(
        app: Any, client: Any, database_url: str
    ) -> None:
        """The session's closing rollback fails on the dead connection: the response made stands,
        and the worker's next request gets a session (and a connection) of its own."""

        @app.get("/_test/killed-after-response")
        def killed() -> str:
            pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            admin = create_engine(database_url)
            try:
                with admin.begin() as conn:
                    conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            finally:
                admin.dispose()
            return "made"

        @app.get("/_test/session")
        def session() -> str:
            return str(db.session.execute(text("SELECT 41 + 1")).scalar_one())

        response = client.get("/_test/killed-after-response")
        assert (response.status_code, response.data) == (200, b"made")
        assert client.get("/_test/session").data == b"42"

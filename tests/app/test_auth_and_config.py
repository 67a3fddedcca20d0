"""Logging in (phone formats, throttling, fresh sessions), security headers, configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.config import ConfigError
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, PASSWORD, app_config, login


class TestLogin:
    @pytest.mark.parametrize(
        "typed", ["0912 000 101", "+84 912 000 101", "84912000101", "0912.000.101"]
    )
    def test_vietnamese_phone_formats_are_normalised(self, client: Any, typed: str) -> None:
        response = login(client, typed)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/household/")

    def test_admin_lands_on_the_admin_area(self, client: Any) -> None:
        assert login(client, ADMIN_PHONE).headers["Location"].endswith("/admin/")

    def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
        self, client: Any
    ) -> None:
        for phone in (HOUSEHOLD_PHONES[0], "0987654321"):
            response = client.post(
                "/auth/login?lang=en", data={"phone": phone, "password": "nope-nope"}
            )
            assert response.status_code == 401
            assert b"Wrong phone number or password." in response.data

    def test_guessing_is_throttled_per_phone(self, client: Any) -> None:
        for _ in range(5):
            assert login(client, HOUSEHOLD_PHONES[0], "wrong-password").status_code == 401
        throttled = login(client, HOUSEHOLD_PHONES[0])  # even the right password now waits
        assert throttled.status_code == 429
        assert login(client, HOUSEHOLD_PHONES[1]).status_code == 302  # other phones unaffected

    def test_login_starts_a_fresh_session(self, client: Any) -> None:
        with client.session_transaction() as session:
            session["planted"] = "by an attacker"
        login(client, HOUSEHOLD_PHONES[0])
        with client.session_transaction() as session:
            assert "planted" not in session
            assert session.get("_user_id")

    def test_open_redirects_are_ignored(self, client: Any) -> None:
        response = client.post(
            "/auth/login?next=//evil.example/",
            data={"phone": HOUSEHOLD_PHONES[0], "password": PASSWORD},
        )
        assert response.headers["Location"].endswith("/household/")

    def test_logout_needs_post_and_ends_the_session(self, client: Any) -> None:
        login(client, HOUSEHOLD_PHONES[0])
        assert client.get("/auth/logout").status_code == 405
        client.post("/auth/logout")
        assert client.get("/household/").status_code == 302


class TestHeaders:
    def test_security_headers_on_pages(self, client: Any) -> None:
        response = client.get("/auth/login")
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert "SameSite=Lax" in response.headers["Set-Cookie"]
        assert "Strict-Transport-Security" not in response.headers  # plain http in tests

    def test_https_deployments_get_secure_cookies_and_hsts(
        self, database_url: str, tmp_path: Path
    ) -> None:
        app = create_app(
            app_config(database_url, tmp_path, PUBLIC_BASE_URL="https://goc.example.vn")
        )
        response = app.test_client().get("/auth/login")
        assert "Secure" in response.headers["Set-Cookie"]
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        with app.app_context():
            from app.extensions import db

            db.engine.dispose()


class TestConfiguration:
    @pytest.mark.parametrize(
        ("override", "names"),
        [
            ({"SECRET_KEY": ""}, "SECRET_KEY"),
            ({"GOC_ENV": "production", "SECRET_KEY": "short"}, "SECRET_KEY"),
            ({"LEDGER_KEK": ""}, "LEDGER_KEK"),
            ({"LEDGER_KEK": "bm90IDMyIGJ5dGVz"}, "LEDGER_KEK"),
            ({"LOG_SIGNING_KEY": ""}, "LOG_SIGNING_KEY"),
            ({"AUTHORITY_SIGNING_KEY": ""}, "AUTHORITY_SIGNING_KEY"),
            ({"PUBLIC_BASE_URL": "goc.example"}, "PUBLIC_BASE_URL"),
            ({"GOC_ENV": "staging"}, "GOC_ENV"),
            ({"SECRET_KEY": "", "SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
            ({"PUBLIC_PAGE_STATE_SECONDS": "soon"}, "PUBLIC_PAGE_STATE_SECONDS"),
            ({"PUBLIC_PAGE_STATE_SECONDS": "61"}, "PUBLIC_PAGE_STATE_SECONDS"),
            ({"PUBLIC_PAGE_STATE_SECONDS": "-1"}, "PUBLIC_PAGE_STATE_SECONDS"),
        ],
    )
    def test_missing_or_bad_settings_fail_loudly(
        self, tmp_path: Path, override: dict[str, str], names: str
    ) -> None:
        config = app_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, **override)
        with pytest.raises(ConfigError, match=names):
            create_app(config)

    def test_secrets_can_come_from_files(self, tmp_path: Path) -> None:
        config = app_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
        secret = tmp_path / "secret"
        secret.write_text(config.pop("SECRET_KEY") + "\n")
        app = create_app({**config, "SECRET_KEY": "", "SECRET_KEY_FILE": str(secret)})
        assert app.config["SECRET_KEY"] == secret.read_text().strip()

"""Gốc web application: ``create_app`` builds it from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from ledger import Ledger, NoteSigner
from ledger.schema import configure_engine, normalise_url

from .config import Settings
from .context import Goc
from .custody import KeyCustody
from .extensions import babel, csrf, db, login_manager, migrate, openapi
from .storage import storage_from_url
from .vietqr import format_vnd

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("vi", "en")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` is laid over the environment (same variable names)."""
    env: dict[str, Any] = {**os.environ, **(config or {})}
    instance = Path(env.get("GOC_INSTANCE_PATH") or ROOT / "instance")
    app = Flask(__name__, instance_path=str(instance))
    settings = Settings.from_env(env, instance_path=instance)
    instance.mkdir(parents=True, exist_ok=True)
    secure = settings.public_base_url.startswith("https://")
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.env == "testing",
        SQLALCHEMY_DATABASE_URI=normalise_url(settings.database_url).render_as_string(
            hide_password=False
        ),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=60 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        PREFERRED_URL_SCHEME="https" if secure else "http",
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        API_TITLE="Gốc API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        GOC_SETTINGS=settings,
    )
    for key in ("WTF_CSRF_ENABLED",):
        if key in env:
            app.config[key] = env[key]

    if settings.trusted_proxies:  # the client's address (login throttling) and scheme
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        engine = configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    babel.init_app(app, locale_selector=_select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)
    openapi.init_app(app)

    authority = NoteSigner.from_skey(settings.authority_signing_key)
    app.extensions["goc"] = Goc(
        settings=settings,
        ledger=Ledger(
            engine,
            log_signer=NoteSigner.from_skey(settings.log_signing_key),
            authorities=[authority.verifier],
        ),
        authority=authority,
        custody=KeyCustody(settings.ledger_kek),
        storage=storage_from_url(settings.storage_url, endpoint_url=settings.s3_endpoint_url),
    )

    from storefront import bp as storefront_bp  # the one place the app knows the storefront

    from . import audit, errors, health, security
    from .admin import views as admin_views
    from .api import register as register_api
    from .auth import views as auth_views
    from .cli import register as register_cli
    from .household import sales as _household_sales  # noqa: F401  (routes on household_views.bp)
    from .household import views as household_views
    from .payments import views as payment_views
    from .services import checkpoints

    errors.init_app(app)  # after the API: one error mapping for HTML and JSON
    security.init_app(app)
    health.init_app(app)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(household_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(payment_views.bp)
    app.register_blueprint(storefront_bp)
    register_api(app)
    audit.register()
    checkpoints.init_app(app)
    register_cli(app)
    app.add_template_filter(format_vnd, "vnd")  # 45.000 ₫

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "languages": LANGUAGES,
            "current_language": _select_locale(),
            "home_url": auth_views.home_url,
        }

    return app


def _select_locale() -> str:
    """Pages are in Vietnamese unless English was chosen (?lang=en, kept in the session); API
    clients (and the audit API under /ledger, and payment webhooks) get English unless they ask
    for Vietnamese (?lang=vi or Accept-Language)."""
    if not has_request_context():
        return "vi"
    chosen = request.args.get("lang")
    if request.path.startswith(("/api/", "/ledger/", "/payments/webhook/")):
        if chosen in LANGUAGES:
            return chosen
        return request.accept_languages.best_match(LANGUAGES, default="en") or "en"
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    stored = session.get("lang")
    return stored if stored in LANGUAGES else "vi"

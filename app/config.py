"""Settings read once from the environment (or a mapping laid over it) by the app factory."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ENVIRONMENTS = ("production", "development", "testing")
N = TypeVar("N", int, float)


class ConfigError(RuntimeError):
    """The configuration is missing or malformed; the message names the variable."""


def _bounded(
    env: Mapping[str, Any],
    name: str,
    kind: Callable[[str], N],
    default: N,
    bounds: tuple[N, N],
    what: str,
) -> N:
    """The setting ``name`` read as ``kind`` (``default`` when unset), within ``bounds``."""
    text = str(env.get(name) or default)
    try:
        value = kind(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, not {text!r}") from exc
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what} from {low} to {high}, not {text}")
    return value


def _read_secret(env: Mapping[str, Any], name: str) -> str | None:
    """``NAME`` itself, or the contents of the file named by ``NAME_FILE``."""
    value = env.get(name)
    if value:
        return str(value).strip()
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc}") from exc
    return None


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    database_url: str
    storage_url: str
    s3_endpoint_url: str | None
    public_base_url: str
    ledger_kek: bytes
    log_signing_key: str
    authority_signing_key: str
    instance_path: Path
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto count
    payment_webhook_key: str | None = None  # `Authorization: Apikey <key>` of the bank feed
    payment_webhook_hmac_secret: str | None = None  # when set, signatures are required too
    order_ttl_minutes: int = 30  # an unpaid order's stock goes back on sale after this
    # How long a worker may serve public pages from the ledger state it last read (0: read it
    # on every request). Pages change at most this late; a CDN may add PAGE_MAX_AGE.
    public_page_state_seconds: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, Any], *, instance_path: Path) -> Settings:
        environment = str(env.get("GOC_ENV", "production"))
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"GOC_ENV must be one of {', '.join(ENVIRONMENTS)}")
        secret_key = _read_secret(env, "SECRET_KEY")
        if not secret_key:
            raise ConfigError("SECRET_KEY is required (or SECRET_KEY_FILE)")
        if environment == "production" and len(secret_key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        kek_text = _read_secret(env, "LEDGER_KEK")
        if not kek_text:
            raise ConfigError("LEDGER_KEK is required: 32 bytes, base64 (or LEDGER_KEK_FILE)")
        try:
            kek = base64.b64decode(kek_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("LEDGER_KEK must be base64") from exc
        if len(kek) != 32:
            raise ConfigError("LEDGER_KEK must decode to 32 bytes (AES-256-GCM)")
        log_key = _read_secret(env, "LOG_SIGNING_KEY")
        authority_key = _read_secret(env, "AUTHORITY_SIGNING_KEY")
        if not log_key:
            raise ConfigError(
                "LOG_SIGNING_KEY is required (a signer key from `python -m ledger keygen`)"
            )
        if not authority_key:
            raise ConfigError("AUTHORITY_SIGNING_KEY is required (the co-op authority signer key)")
        default_db = f"sqlite:///{instance_path / 'goc.db'}"
        public_base_url = str(env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
        if not public_base_url.startswith(("http://", "https://")):
            raise ConfigError("PUBLIC_BASE_URL must start with http:// or https://")
        storage_url = str(env.get("STORAGE_URL") or (instance_path / "storage"))
        trusted_proxies = _bounded(
            env, "TRUSTED_PROXIES", int, 0, (0, 5), "a whole number (0 without a proxy)"
        )
        webhook_key = _read_secret(env, "PAYMENT_WEBHOOK_KEY")
        if environment != "development" and not webhook_key:
            raise ConfigError(
                "PAYMENT_WEBHOOK_KEY is required (or PAYMENT_WEBHOOK_KEY_FILE): the API key the "
                "bank feed (SePay) sends as `Authorization: Apikey <key>`"
            )
        if environment == "production" and webhook_key and len(webhook_key) < 24:
            raise ConfigError("PAYMENT_WEBHOOK_KEY must be at least 24 characters in production")
        order_ttl = _bounded(
            env, "ORDER_TTL_MINUTES", int, 30, (1, 7 * 24 * 60), "a whole number of minutes"
        )
        page_state_seconds = _bounded(
            env, "PUBLIC_PAGE_STATE_SECONDS", float, 1.0, (0.0, 60.0), "a number of seconds"
        )
        return cls(
            env=environment,
            secret_key=secret_key,
            database_url=str(env.get("DATABASE_URL") or default_db),
            storage_url=storage_url,
            s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
            public_base_url=public_base_url,
            ledger_kek=kek,
            log_signing_key=log_key,
            authority_signing_key=authority_key,
            instance_path=instance_path,
            trusted_proxies=trusted_proxies,
            payment_webhook_key=webhook_key,
            payment_webhook_hmac_secret=_read_secret(env, "PAYMENT_WEBHOOK_HMAC_SECRET"),
            order_ttl_minutes=order_ttl,
            public_page_state_seconds=page_state_seconds,
        )

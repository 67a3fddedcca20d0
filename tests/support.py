"""Helpers shared by tests and benchmarks: migrations, keys, and a ready ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from ledger import (
    KEY_REGISTER,
    KEY_REVOKE,
    Entry,
    Ledger,
    LogVerifier,
    NoteSigner,
    Statement,
    open_engine,
)
from ledger.encoding import b64encode

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "goc.test/log"


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to the newest revision, as deployments do."""
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["skip_logging"] = True
    command.upgrade(config, revision)


def seeded_signer(name: str, n: int) -> NoteSigner:
    """A deterministic key, so failures reproduce."""
    return NoteSigner.from_seed(name, bytes([n]) * 32)


@dataclass
class Fixture:
    """A ledger with a co-op authority and helpers to register households and append."""

    engine: Engine
    ledger: Ledger
    log_key: NoteSigner
    authority: NoteSigner

    @classmethod
    def create(cls, url: str) -> Fixture:
        engine = open_engine(url)
        log_key = seeded_signer(ORIGIN, 1)
        authority = seeded_signer("goc.test/authority", 2)
        ledger = Ledger(engine, log_signer=log_key, authorities=[authority.verifier])
        return cls(engine, ledger, log_key, authority)

    def verifier(self, workers: int = 0) -> LogVerifier:
        return LogVerifier(
            log_key=self.log_key.verifier, authority_keys=[self.authority.verifier], workers=workers
        )

    def statement(
        self, signer: NoteSigner, kind: str, subject: str, body: dict[str, Any] | None = None
    ) -> Statement:
        return Statement(
            kind=kind, subject=subject, key=signer.key_id, time=datetime.now(UTC), body=body or {}
        )

    def register(self, owner: str, n: int) -> tuple[NoteSigner, Entry]:
        household = seeded_signer(owner, n)
        body = {"public_key": b64encode(household.public_key)}
        entry = self.ledger.append(
            self.statement(self.authority, KEY_REGISTER, owner, body).sign(self.authority)
        )
        return household, entry

    def revoke(self, owner: str, household: NoteSigner) -> Entry:
        body = {"key": household.key_id, "reason": "phone lost"}
        return self.ledger.append(
            self.statement(self.authority, KEY_REVOKE, owner, body).sign(self.authority)
        )

    def step(
        self, household: NoteSigner, subject: str, kind: str = "step.harvest", **body: Any
    ) -> Entry:
        return self.ledger.append(self.statement(household, kind, subject, body).sign(household))


def app_config(database_url: str, instance: Path, **extra: Any) -> dict[str, Any]:
    """A complete, valid configuration for ``create_app`` (fixed test keys)."""
    import base64

    return {
        "GOC_ENV": "testing",
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "LEDGER_KEK": base64.b64encode(bytes(range(32))).decode(),
        "LOG_SIGNING_KEY": seeded_signer(ORIGIN, 1).skey(),
        "AUTHORITY_SIGNING_KEY": seeded_signer("goc.test/authority", 2).skey(),
        "DATABASE_URL": database_url,
        "GOC_INSTANCE_PATH": str(instance),
        "STORAGE_URL": str(instance / "storage"),
        "PUBLIC_BASE_URL": "http://goc.test",
        "PAYMENT_WEBHOOK_KEY": WEBHOOK_KEY,
        # Tests see every change on the next request; benchmarks pass the production default.
        "PUBLIC_PAGE_STATE_SECONDS": "0",
        **extra,
    }


WEBHOOK_KEY = "test-webhook-key-0123456789abcdef"
ADMIN_PHONE = "0912000001"
HOUSEHOLD_PHONES = ("0912000101", "0912000202")
PASSWORD = "mật-khẩu-đủ-dài"


def jpeg_bytes(
    color: tuple[int, int, int] = (40, 120, 60), size: tuple[int, int] = (64, 48)
) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def login(client: Any, phone: str, password: str = PASSWORD) -> Any:
    """Log in through the real form; returns the response (a redirect on success)."""
    return client.post("/auth/login", data={"phone": phone, "password": password})

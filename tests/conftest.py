"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``TEST_DATABASE_URL``; each test gets a database of its own, copied from a
template (tests.databases) and dropped after.
An unreachable PostgreSQL is an error, never a skip. With ``TEST_DATABASE_URL`` set empty the
PostgreSQL variants are not collected (for machines without it; CI always sets it).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    ADMIN_PHONE,
    HOUSEHOLD_PHONES,
    PASSWORD,
    Fixture,
    app_config,
    migrate,
)

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def pytest_report_header(config: pytest.Config) -> str:
    return f"database backends: {', '.join(BACKENDS)}"


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Any]:
    """This worker's database templates (tests.databases)."""
    from tests.databases import DatabaseTemplates

    made = DatabaseTemplates(
        tmp_path_factory.mktemp("templates"), PG_URL, f"goc_{worker_id}_{uuid.uuid4().hex[:6]}"
    )
    yield made
    made.drop()


def migrated(url: str, files: Path) -> None:
    """A migrated, empty database."""
    migrate(url)


def with_accounts(url: str, files: Path) -> None:
    """A migrated database with a co-op admin and two enrolled households (their keys in the
    ledger), and the app's instance folder in ``files``."""
    from app import create_app
    from app.context import goc
    from app.extensions import db
    from app.services.accounts import create_admin
    from app.services.households import enroll_household

    migrate(url)
    application = create_app(app_config(url, files / "instance"))
    with application.app_context():
        try:
            admin = create_admin(
                db.session, phone=ADMIN_PHONE, password=PASSWORD, name="Ban số hoá"
            )
            for phone, head, crops in zip(
                HOUSEHOLD_PHONES,
                ("Nguyễn Văn An", "Trần Thị Bình"),
                ("bưởi Phúc Trạch", "gạo ST25"),
                strict=True,
            ):
                enroll_household(
                    db.session,
                    goc(),
                    actor=admin,
                    profile={
                        "head_name": head,
                        "hamlet": "Thôn Phúc Trạch",
                        "commune": "Hương Khê",
                        "province": "Hà Tĩnh",
                        "crops": crops,
                    },
                    phone=phone,
                    password=PASSWORD,
                    member_name=head,
                )
        finally:
            db.session.remove()
            db.engine.dispose()


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, templates: Any, tmp_path: Path) -> Iterator[str]:
    """A migrated database of each backend, the test's own: empty, or for a test of the web app
    (the ``app`` fixture) holding that app's accounts. The URL carries everything needed."""
    state = with_accounts if "app" in request.fixturenames else migrated
    with templates.copy(request.param, state, tmp_path) as url:
        yield url


@pytest.fixture
def log(database_url: str) -> Iterator[Fixture]:
    """A ledger on each backend, with a co-op authority key."""
    fixture = Fixture.create(database_url)
    try:
        yield fixture
    finally:
        fixture.engine.dispose()


@pytest.fixture
def app(database_url: str, templates: Any, tmp_path: Path) -> Iterator[Any]:
    """The web app on each backend, with a co-op admin and two enrolled households."""
    from app import create_app
    from app.context import goc
    from app.extensions import db
    from ledger import LogVerifier

    instance = tmp_path / "instance"
    files = templates.files(backend_of(database_url), with_accounts)
    shutil.copytree(files / "instance", instance)
    application = create_app(app_config(database_url, instance, WTF_CSRF_ENABLED=False))
    yield application
    with application.app_context():
        db.session.remove()
        try:
            # Whatever the test did through the app, the ledger it leaves must verify.
            ledger = goc().ledger
            verifier = LogVerifier(
                log_key=ledger.log_signer.verifier,
                authority_keys=[goc().authority.verifier],
                workers=0,
            )
            verifier.verify_log(ledger.iter_log())
        finally:
            db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server: a real HTTP endpoint that boto3 talks to."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server; AWS credentials are fakes for moto."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"goc-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name

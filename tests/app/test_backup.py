"""``flask --app wsgi backup`` / ``restore``: the whole database to a file or S3 and back into
an empty one, on each backend and across them; the restored ledger verifies with the same root."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app import create_app
from app.cli import verified_summary
from app.context import goc
from app.extensions import db
from ledger.schema import metadata as ledger_metadata
from tests.app.test_api import BATCH, HARVEST, bearer, post_multipart, token_for
from tests.conftest import PG_URL, backend_of, migrated
from tests.support import HOUSEHOLD_PHONES, app_config, jpeg_bytes, login


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def empty_url(database_url: str, templates: Any, tmp_path: Path) -> Iterator[str]:
    """A second migrated, empty database on the same backend as ``database_url``."""
    with templates.copy(backend_of(database_url), migrated, tmp_path) as url:
        yield url


def fill(app: Any, client: Any) -> str:
    """A batch with a photographed step and a correction, through the API; returns its code."""
    token = token_for(app, HOUSEHOLD_PHONES[0])
    batch = client.post("/api/v1/batches", json=BATCH, headers=bearer(token)).get_json()
    steps = f"/api/v1/batches/{batch['code']}/steps"
    step = post_multipart(client, steps, token, HARVEST, [jpeg_bytes()]).get_json()
    fix = {"reason": "Cân lại", "quantity": "118"}
    response = client.post(f"/api/v1/steps/{step['seq']}/corrections", json=fix,
                           headers=bearer(token))  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return str(batch["code"])


def snapshot(app: Any) -> dict[str, Any]:
    """Every table's rows (as Python values) and the latest checkpoint note."""
    with app.app_context():
        tables = [*ledger_metadata.sorted_tables, *db.metadata.sorted_tables]
        with db.engine.connect() as conn:
            rows = {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in tables
            }
        checkpoint = goc().ledger.latest_checkpoint()
        assert checkpoint is not None
        return {"rows": rows, "checkpoint": (checkpoint.size, checkpoint.root, checkpoint.note)}


def restored_app(url: str, source: Any, tmp_path: Path) -> Any:
    """An app on ``url`` with the source's keys and photo storage (photos are backed up apart)."""
    storage = source.extensions["goc"].settings.storage_url
    return create_app(
        app_config(url, tmp_path / f"i-{uuid.uuid4().hex[:6]}", STORAGE_URL=storage,
                   WTF_CSRF_ENABLED=False)
    )  # fmt: skip


def assert_same_and_usable(source: Any, target: Any, code: str) -> None:
    before = snapshot(source)
    assert snapshot(target) == before
    with target.app_context():
        assert verified_summary(0)
    client = target.test_client()
    assert client.get(f"/b/{code}").status_code == 200
    # Ids keep counting after the restored ones (PostgreSQL's sequences were moved on).
    token = token_for(target, HOUSEHOLD_PHONES[1])
    response = client.post("/api/v1/batches", json=BATCH, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    assert login(client, HOUSEHOLD_PHONES[0]).status_code == 302
    with target.app_context():
        assert goc().ledger.size() == before["checkpoint"][0] + 1
        verified_summary(0)
        db.engine.dispose()


def test_backup_to_a_file_and_restore(
    app: Any, client: Any, empty_url: str, tmp_path: Path
) -> None:
    code = fill(app, client)
    target = tmp_path / "goc.jsonl.gz"
    result = run(app, "backup", str(target))
    assert result.exit_code == 0, result.output
    assert "ledger entries" in result.output
    restored = restored_app(empty_url, app, tmp_path)
    result = run(restored, "restore", str(target))
    assert result.exit_code == 0, result.output
    with app.app_context():
        root = goc().ledger.latest_checkpoint().root.hex()
    assert f"root {root}" in result.output
    assert_same_and_usable(app, restored, code)


def test_backup_to_s3_and_restore(
    app: Any, client: Any, empty_url: str, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    code = fill(app, client)
    app.extensions["goc"] = _with_endpoint(app, s3_endpoint)
    location = f"s3://{s3_bucket}/backups/goc.jsonl.gz"
    result = run(app, "backup", location)
    assert result.exit_code == 0, result.output
    restored = restored_app(empty_url, app, tmp_path)
    restored.extensions["goc"] = _with_endpoint(restored, s3_endpoint)
    result = run(restored, "restore", location)
    assert result.exit_code == 0, result.output
    assert_same_and_usable(app, restored, code)


def _with_endpoint(app: Any, endpoint: str) -> Any:
    from dataclasses import replace

    found = app.extensions["goc"]
    return replace(found, settings=replace(found.settings, s3_endpoint_url=endpoint))


if PG_URL:  # like the PostgreSQL variants of every test: collected when PostgreSQL is set

    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
    def test_sqlite_backup_restores_into_postgresql(
        app: Any, client: Any, templates: Any, tmp_path: Path
    ) -> None:
        code = fill(app, client)
        target = tmp_path / "goc.jsonl.gz"
        assert run(app, "backup", str(target)).exit_code == 0
        with templates.copy("postgresql", migrated, tmp_path) as url:
            restored = restored_app(url, app, tmp_path)
            result = run(restored, "restore", str(target))
            assert result.exit_code == 0, result.output
            assert_same_and_usable(app, restored, code)


def test_restore_refuses_a_database_that_is_not_empty(app: Any, tmp_path: Path) -> None:
    target = tmp_path / "goc.jsonl.gz"
    assert run(app, "backup", str(target)).exit_code == 0
    before = snapshot(app)
    result = run(app, "restore", str(target))
    assert result.exit_code == 1
    assert "not empty" in result.output and "users" in result.output
    assert snapshot(app) == before


def test_restore_refuses_a_cut_backup_and_writes_nothing(
    app: Any, client: Any, empty_url: str, tmp_path: Path
) -> None:
    fill(app, client)
    target = tmp_path / "goc.jsonl.gz"
    assert run(app, "backup", str(target)).exit_code == 0
    lines = gzip.decompress(target.read_bytes()).splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b"".join(lines[:-1])))  # everything but the end line
    restored = restored_app(empty_url, app, tmp_path)
    result = run(restored, "restore", str(cut))
    assert result.exit_code == 1
    assert "incomplete" in result.output
    with restored.app_context():
        with db.engine.connect() as conn:
            entries = ledger_metadata.tables["ledger_entries"]
            assert conn.execute(select(func.count()).select_from(entries)).scalar() == 0
        db.engine.dispose()
    garbage = tmp_path / "garbage.jsonl.gz"
    garbage.write_bytes(b"not a backup")
    result = run(restored, "restore", str(garbage))
    assert result.exit_code == 1 and "cannot read the backup" in result.output

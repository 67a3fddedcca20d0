"""Checkpoint publication: every checkpoint lands in object storage (a folder or S3) after the
commit that made it; a missed one is published by the next commit or by the CLI command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.context import goc
from app.extensions import db
from app.services import checkpoints as publication
from app.services.accounts import create_admin
from app.services.checkpoints import LATEST_KEY, checkpoint_key, published_size
from app.storage import FileStorage, StorageError, storage_from_url
from ledger import KEY_REGISTER, Statement, StoredCheckpoint
from ledger.encoding import b64encode
from tests.batches import batch_with_steps
from tests.support import HOUSEHOLD_PHONES, PASSWORD, app_config, seeded_signer

HARVEST = ("harvest", {"quantity": "80"})


def stored(app: Any) -> tuple[list[StoredCheckpoint], FileStorage]:
    with app.app_context():
        return list(goc().ledger.iter_checkpoints()), goc().storage


def assert_all_published(app: Any) -> None:
    checkpoints, storage = stored(app)
    assert checkpoints
    for checkpoint in checkpoints:
        assert storage.get(checkpoint_key(checkpoint.size)).decode() == checkpoint.note
    assert storage.get(LATEST_KEY).decode() == checkpoints[-1].note
    assert published_size(storage) == checkpoints[-1].size


def append_outside_the_app(app: Any, n: int, *, first: int = 0) -> None:
    """Appends that no app session commits (another process, a script): nothing publishes them."""
    with app.app_context():
        authority = goc().authority
        for i in range(first, first + n):
            signer = seeded_signer(f"household:X{i}", 50 + i)
            statement = Statement(
                kind=KEY_REGISTER,
                subject=f"household:X{i}",
                key=authority.key_id,
                time=datetime.now(UTC),
                body={"public_key": b64encode(signer.public_key)},
            )
            goc().ledger.append(statement.sign(authority))


def test_every_checkpoint_is_published_after_its_commit(app: Any) -> None:
    assert_all_published(app)  # the households' enrolment
    with app.app_context():
        batch_with_steps(HOUSEHOLD_PHONES[0], [HARVEST])
    assert_all_published(app)


def test_missed_checkpoints_are_published_by_the_next_commit(app: Any) -> None:
    append_outside_the_app(app, 3)
    checkpoints, storage = stored(app)
    assert published_size(storage) == checkpoints[-4].size
    assert not storage.exists(checkpoint_key(checkpoints[-1].size))
    with app.app_context():
        batch_with_steps(HOUSEHOLD_PHONES[1], [])
    assert_all_published(app)


def test_a_storage_failure_does_not_fail_the_write_and_heals_later(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        storage = goc().storage

        def broken(*args: Any, **kwargs: Any) -> None:
            raise StorageError("S3 is down")

        monkeypatch.setattr(storage, "put", broken)
        code = batch_with_steps(HOUSEHOLD_PHONES[0], [HARVEST])  # still commits
        assert code
        monkeypatch.undo()
        checkpoints = list(goc().ledger.iter_checkpoints())
        assert published_size(storage) < checkpoints[-1].size
    result = app.test_cli_runner().invoke(args=["publish-checkpoints"])
    assert result.exit_code == 0, result.output
    assert f"latest published is size {checkpoints[-1].size}" in result.output
    assert_all_published(app)
    again = app.test_cli_runner().invoke(args=["publish-checkpoints"])
    assert "Published 0 checkpoints" in again.output


def test_history_is_republished_to_a_new_empty_storage(app: Any, tmp_path: Path) -> None:
    """The database rebuilds a lost bucket; the published objects are the notes verbatim."""
    with app.app_context():
        fresh = storage_from_url(str(tmp_path / "new-bucket"))
        count = publication.publish_checkpoints(db.engine, fresh)
        checkpoints = list(goc().ledger.iter_checkpoints())
    assert count == len(checkpoints)
    assert fresh.get(LATEST_KEY).decode() == checkpoints[-1].note


def test_checkpoints_are_published_to_s3(
    database_url: str, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    import boto3

    application = create_app(
        app_config(
            database_url,
            tmp_path / "instance",
            STORAGE_URL=f"s3://{s3_bucket}/goc",
            S3_ENDPOINT_URL=s3_endpoint,
        )
    )
    with application.app_context():
        create_admin(db.session, phone="0912000001", password=PASSWORD, name="Admin")
        append_outside_the_app(application, 2)
        assert published_size(goc().storage) is None
        assert publication.publish_checkpoints(db.engine, goc().storage) == 2
        append_outside_the_app(application, 1, first=2)
    result = application.test_cli_runner().invoke(args=["publish-checkpoints"])
    assert result.exit_code == 0, result.output
    assert_all_published(application)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="goc/")["Contents"]
    assert {o["Key"] for o in listed} == {
        "goc/checkpoint",
        *(f"goc/checkpoints/{n}" for n in (1, 2, 3)),
    }
    head = client.head_object(Bucket=s3_bucket, Key="goc/checkpoint")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    with application.app_context():
        db.engine.dispose()

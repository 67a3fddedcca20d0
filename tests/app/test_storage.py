"""Object storage: the local folder and S3 (through boto3 against moto's HTTP server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select

from app import create_app
from app.context import goc
from app.extensions import db
from app.models import User
from app.services.batches import create_batch, record_step
from app.services.photos import photo_key, prepare_photo
from app.storage import (
    LocalFileStorage,
    S3FileStorage,
    StorageError,
    StorageNotFoundError,
    storage_from_url,
)
from tests.support import jpeg_bytes


class TestLocalFileStorage:
    def test_put_get_exists(self, tmp_path: Path) -> None:
        storage = LocalFileStorage(tmp_path)
        storage.put("photos/ab/x.jpg", b"data", content_type="image/jpeg")
        assert storage.get("photos/ab/x.jpg") == b"data"
        assert storage.exists("photos/ab/x.jpg") and not storage.exists("photos/ab/y.jpg")
        assert not list(tmp_path.rglob(".tmp-*"))

    def test_missing_key(self, tmp_path: Path) -> None:
        with pytest.raises(StorageNotFoundError):
            LocalFileStorage(tmp_path).get("nope")

    @pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
    def test_keys_cannot_escape_the_folder(self, tmp_path: Path, key: str) -> None:
        with pytest.raises(ValueError):
            LocalFileStorage(tmp_path).put(key, b"x", content_type="text/plain")


class TestS3FileStorage:
    def test_roundtrip_under_prefix(self, s3_endpoint: str, s3_bucket: str) -> None:
        storage = storage_from_url(f"s3://{s3_bucket}/hamlet-1", endpoint_url=s3_endpoint)
        assert isinstance(storage, S3FileStorage)
        storage.put("photos/ab/x.jpg", b"\xff\xd8data", content_type="image/jpeg")
        assert storage.get("photos/ab/x.jpg") == b"\xff\xd8data"
        assert storage.exists("photos/ab/x.jpg")
        assert not storage.exists("photos/ab/missing.jpg")
        head = boto3.client("s3", endpoint_url=s3_endpoint).head_object(
            Bucket=s3_bucket, Key="hamlet-1/photos/ab/x.jpg"
        )
        assert head["ContentType"] == "image/jpeg"

    def test_missing_key_and_missing_bucket(self, s3_endpoint: str, s3_bucket: str) -> None:
        with pytest.raises(StorageNotFoundError):
            storage_from_url(f"s3://{s3_bucket}", endpoint_url=s3_endpoint).get("nope")
        absent = storage_from_url("s3://no-such-bucket-goc", endpoint_url=s3_endpoint)
        with pytest.raises(StorageError):
            absent.put("x", b"x", content_type="text/plain")

    def test_step_photos_land_in_s3(
        self, database_url: str, tmp_path: Path, s3_endpoint: str, s3_bucket: str
    ) -> None:
        from app.services.accounts import create_admin
        from app.services.households import enroll_household
        from tests.support import PASSWORD, app_config

        config = app_config(
            database_url,
            tmp_path / "instance",
            STORAGE_URL=f"s3://{s3_bucket}/goc",
            S3_ENDPOINT_URL=s3_endpoint,
        )
        application = create_app(config)
        with application.app_context():
            admin = create_admin(db.session, phone="0912000001", password=PASSWORD, name="Admin")
            enroll_household(
                db.session,
                goc(),
                actor=admin,
                profile={"head_name": "Lê Văn Cường"},
                phone="0912000303",
                password=PASSWORD,
                member_name="Cường",
            )
            user = db.session.scalar(select(User).where(User.phone == "+84912000303"))
            batch = create_batch(
                db.session,
                goc(),
                actor=user,
                data={"product": "Rau cải", "unit": "bó", "start_date": "2026-10-01"},
            )
            photo = prepare_photo(jpeg_bytes(), keep_location=False)
            step = record_step(
                db.session,
                goc(),
                actor=user,
                batch=batch,
                kind="harvest",
                data={"quantity": "35"},
                photos=[photo],
            )
            stored = (
                boto3.client("s3", endpoint_url=s3_endpoint)
                .get_object(Bucket=s3_bucket, Key=f"goc/{photo_key(photo.sha256)}")["Body"]
                .read()
            )
            assert hashlib.sha256(stored).hexdigest() == photo.sha256
            entry = goc().ledger.entry(step.seq)
            assert entry is not None
            assert entry.statement.parse().attachments == (photo.sha256,)
            db.session.remove()
            db.engine.dispose()

"""Photo uploads: checked by content, re-encoded, EXIF stripped, location only when shared."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import ExifTags, Image

from app.errors import ValidationFailed
from app.services.photos import MAX_SIDE, THUMB_SIDE, prepare_photo
from tests.support import jpeg_bytes


def jpeg_with_gps(orientation: int = 1) -> bytes:
    image = Image.new("RGB", (300, 200), (200, 180, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Cheap Android"
    exif[ExifTags.Base.Orientation] = orientation
    gps = {1: "N", 2: (18.0, 12.0, 36.0), 3: "E", 4: (105.0, 42.0, 0.0)}
    exif[ExifTags.IFD.GPSInfo] = gps
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


class TestPreparePhoto:
    def test_reencoded_jpeg_without_exif(self) -> None:
        photo = prepare_photo(jpeg_with_gps(), keep_location=False)
        with Image.open(io.BytesIO(photo.data)) as result:
            assert result.format == "JPEG"
            assert dict(result.getexif()) == {}
        assert photo.location is None
        assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()
        assert photo.thumb_sha256 == hashlib.sha256(photo.thumb).hexdigest()

    def test_location_kept_only_when_shared(self) -> None:
        photo = prepare_photo(jpeg_with_gps(), keep_location=True)
        assert photo.location == (18.21, 105.7)
        with Image.open(io.BytesIO(photo.data)) as result:
            assert dict(result.getexif()) == {}  # kept as data, never inside the image

    def test_orientation_applied_before_stripping(self) -> None:
        photo = prepare_photo(jpeg_with_gps(orientation=6), keep_location=False)
        assert (photo.width, photo.height) == (200, 300)

    @pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
    def test_other_formats_become_jpeg(self, fmt: str) -> None:
        photo = prepare_photo(
            encode(Image.new("RGB", (50, 40), (1, 2, 3)), fmt), keep_location=False
        )
        assert photo.data[:3] == b"\xff\xd8\xff"

    def test_large_photos_are_scaled_down_with_a_thumbnail(self) -> None:
        photo = prepare_photo(jpeg_bytes(size=(4000, 3000)), keep_location=False)
        assert max(photo.width, photo.height) == MAX_SIDE
        with Image.open(io.BytesIO(photo.thumb)) as thumb:
            assert max(thumb.size) == THUMB_SIDE

    @pytest.mark.parametrize(
        "data",
        [
            b"<html><script>alert(1)</script></html>",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            b"GIF89a" + b"\x00" * 40,
            jpeg_bytes()[:200],
            b"",
        ],
        ids=["html", "svg", "gif", "truncated-jpeg", "empty"],
    )
    def test_non_photos_are_refused_naming_the_field(self, data: bytes) -> None:
        with pytest.raises(ValidationFailed) as info:
            prepare_photo(data, keep_location=False, field="photos")
        assert "photos" in info.value.errors

    def test_oversized_upload_is_refused(self) -> None:
        with pytest.raises(ValidationFailed) as info:
            prepare_photo(b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), keep_location=False)
        assert "photos" in info.value.errors

"""Photos: checked by content, re-encoded without metadata, thumbnailed, stored by SHA-256."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from flask_babel import gettext as _
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..models import Photo
from ..storage import FileStorage

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048
THUMB_SIDE = 320
ACCEPTED = {"JPEG", "PNG", "WEBP", "MPO", "HEIF"}  # HEIF: iPhones' HEIC, through pillow-heif

register_heif_opener()


@dataclass(frozen=True)
class PreparedPhoto:
    sha256: str
    data: bytes
    thumb_sha256: str
    thumb: bytes
    width: int
    height: int
    location: tuple[float, float] | None


def _gps(image: Image.Image) -> tuple[float, float] | None:
    try:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None

    def degrees(value: tuple[float, float, float], ref: str) -> float:
        d, m, s = (float(x) for x in value)
        sign = -1 if ref in ("S", "W") else 1
        return round(sign * (d + m / 60 + s / 3600), 6)

    try:
        return degrees(gps[2], gps.get(1, "N")), degrees(gps[4], gps.get(3, "E"))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _jpeg(image: Image.Image, side: int, quality: int) -> tuple[bytes, int, int]:
    copy = image.copy()
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue(), copy.width, copy.height


def prepare_photo(data: bytes, *, keep_location: bool, field: str = "photos") -> PreparedPhoto:
    """Validate and re-encode an upload; raise ValidationFailed naming ``field`` if it is bad."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationFailed(
            _("Photo is too large."), errors={field: [_("At most 10 MB per photo.")]}
        )
    bad = ValidationFailed(
        _("That file is not a photo."), errors={field: [_("Use a JPEG, PNG, WebP or HEIC photo.")]}
    )
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ACCEPTED:
                raise bad
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            location = _gps(image) if keep_location else None
            image.load()
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise bad from exc
    full, width, height = _jpeg(upright, MAX_SIDE, 85)
    thumb = _jpeg(upright, THUMB_SIDE, 75)[0]
    return PreparedPhoto(
        sha256=hashlib.sha256(full).hexdigest(),
        data=full,
        thumb_sha256=hashlib.sha256(thumb).hexdigest(),
        thumb=thumb,
        width=width,
        height=height,
        location=location,
    )


def photo_key(sha256: str) -> str:
    return f"photos/{sha256[:2]}/{sha256}.jpg"


def store_photo(session: Session, storage: FileStorage, photo: PreparedPhoto) -> Photo:
    """Put the photo and its thumbnail in storage (content-addressed) and record it."""
    existing = session.get(Photo, photo.sha256)
    if existing is not None:
        return existing
    storage.put(photo_key(photo.sha256), photo.data, content_type="image/jpeg")
    storage.put(photo_key(photo.thumb_sha256), photo.thumb, content_type="image/jpeg")
    record = Photo(
        sha256=photo.sha256,
        media_type="image/jpeg",
        width=photo.width,
        height=photo.height,
        size_bytes=len(photo.data),
        thumb_sha256=photo.thumb_sha256,
    )
    session.add(record)
    return record

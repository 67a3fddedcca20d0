"""Marshmallow schemas of the API: responses, headers and query strings, and the documented
shapes of request bodies (derived from app.steps, never restated)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import url_for
from flask_smorest.fields import Upload
from marshmallow import INCLUDE, Schema, fields, validate

from ..context import goc
from ..services.batches import MAX_PHOTOS
from ..steps import STEP_TYPES, BatchSchema, CorrectionSchema, StepType
from .body import PHOTOS

# Headers and query strings


class IdempotencyHeaders(Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        metadata={
            "description": "A client-chosen key (at most 128 characters): a retry with the same "
            "key returns the first result instead of recording twice; the same key with "
            "another body is refused with 409."
        },
    )


class PhotoQuery(Schema):
    thumbnail = fields.Boolean(
        load_default=False, metadata={"description": "The small thumbnail instead of the photo."}
    )


# Responses


class Link(fields.String):
    """An absolute URL (under PUBLIC_BASE_URL) computed from the object being dumped."""

    _CHECK_ATTRIBUTE = False

    def __init__(self, path: Callable[[Any], str], *, description: str, **kwargs: Any) -> None:
        super().__init__(
            dump_only=True, metadata={"format": "uri", "description": description}, **kwargs
        )
        self.path = path

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return goc().settings.public_base_url + self.path(obj)


class Whole(fields.Nested):
    """A nested object dumped from the parent object itself (e.g. links computed from it)."""

    _CHECK_ATTRIBUTE = False

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return super()._serialize(obj, attr, obj, **kwargs)


class Hex(fields.String):
    """Bytes as lowercase hexadecimal."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else bytes(value).hex()


class BatchLinks(Schema):
    self_ = Link(
        lambda batch: url_for("batches.get_batch", code=batch.code),
        data_key="self",
        description="This batch in the API.",
    )
    steps = Link(
        lambda batch: url_for("steps.list_steps", code=batch.code),
        description="The batch's steps in the API.",
    )
    public = Link(
        lambda batch: f"/b/{batch.code}", description="The batch's public page (its QR code)."
    )


class BatchOut(Schema):
    code = fields.String(metadata={"description": "Public code of the batch."})
    product = fields.String()
    variety = fields.String()
    plot = fields.String()
    unit = fields.String()
    expected_quantity = fields.String(
        allow_none=True, metadata={"format": "decimal", "description": "A decimal number."}
    )
    start_date = fields.Date()
    lot = fields.String()
    gtin = fields.String(allow_none=True, metadata={"description": "GTIN-14, if any."})
    seq = fields.Integer(metadata={"description": "Ledger entry of the batch.create statement."})
    created_at = fields.DateTime()
    urls = Whole(BatchLinks)


class PhotoOut(Schema):
    sha256 = fields.String(
        attribute="photo_sha256", metadata={"description": "SHA-256 of the stored JPEG."}
    )
    width = fields.Integer(attribute="photo.width")
    height = fields.Integer(attribute="photo.height")
    url = Link(
        lambda photo: url_for("photos.get_photo", sha256=photo.photo_sha256),
        description="The photo (JPEG).",
    )
    thumbnail_url = Link(
        lambda photo: url_for("photos.get_photo", sha256=photo.photo_sha256, thumbnail="true"),
        description="Its thumbnail (JPEG).",
    )


class StepOut(Schema):
    id = fields.Integer()
    batch = fields.String(attribute="batch.code")
    kind = fields.String(
        metadata={"enum": [*STEP_TYPES, "correct"], "description": "Step type, or correct."}
    )
    occurred_at = fields.DateTime()
    data = fields.Dict(metadata={"description": "The signed statement body."})
    seq = fields.Integer(metadata={"description": "Ledger sequence number of the statement."})
    entry_hash = Hex(metadata={"description": "Hash of the ledger entry (hex)."})
    photos = fields.List(fields.Nested(PhotoOut))
    corrects = fields.Integer(
        attribute="corrects.seq",
        dump_default=None,
        allow_none=True,
        metadata={"description": "Ledger sequence number of the step this one corrects."},
    )
    created_at = fields.DateTime()


def number_bounds(converter: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict:
    """An apispec attribute function completing what it writes for ``Range`` validators: bounds
    as numbers (it writes a ``Decimal(as_string=True)`` field's as strings), and exclusivity."""
    bounds: dict[str, Any] = {
        key: float(value) if "." in value else int(value)
        for key, value in ret.items()
        if key in ("minimum", "maximum") and isinstance(value, str)
    }
    for validator in field.validators:
        if isinstance(validator, validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                bounds["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                bounds["exclusiveMaximum"] = True
    return bounds


# Request bodies (documentation; the services validate with the schemas they derive from)


class BatchInput(BatchSchema):
    pass


class CorrectionInput(CorrectionSchema):
    class Meta:
        unknown = INCLUDE  # documented as additionalProperties: the corrected values


def _step_input(step_type: StepType, *, upload: bool) -> type[Schema]:
    own: dict[str, Any] = {
        "kind": fields.String(required=True, validate=validate.OneOf([step_type.name]))
    }
    if upload:
        own[PHOTOS] = fields.List(
            Upload(), metadata={"description": f"Up to {MAX_PHOTOS} photos (JPEG, PNG, WebP)."}
        )
    name = step_type.name.title() + ("StepUpload" if upload else "StepInput")
    return type(name, (step_type.schema,), own)


def _one_of_kinds(upload: bool) -> dict[str, Any]:
    schemas = {name: _step_input(t, upload=upload) for name, t in STEP_TYPES.items()}
    return {
        "oneOf": list(schemas.values()),
        "discriminator": {
            "propertyName": "kind",
            "mapping": {
                name: f"#/components/schemas/{schema.__name__}" for name, schema in schemas.items()
            },
        },
    }


STEP_JSON = _one_of_kinds(upload=False)
STEP_MULTIPART = _one_of_kinds(upload=True)

"""Production step types and their fields: one marshmallow schema per type, used by the web
forms (which render from the field metadata) and by the JSON API alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates

NOTE = validate.Length(max=1000)
POSITIVE = validate.Range(min=0, min_inclusive=False)
UNITS = ("kg", "tấn", "quả", "bó", "bao", "thùng", "lít", "cây", "hộp")
LOT_RE = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
INSPECTION_RESULTS = ("pass", "fail", "conditional")
BATCH_TEXT = 120  # batches.product, variety and plot are VARCHAR(120)
MAX_BATCH_QUANTITY = Decimal("99999999999.999")  # batches.expected_quantity is NUMERIC(14, 3)


def text(label: Any, *, required: bool = False, max_length: int = 200, **kw: Any) -> fields.String:
    """A one-line text field; ``max_length`` must fit the column it is stored in, if any."""
    metadata = {"label": label, "input": "text", **kw}
    if required:
        return fields.String(
            required=True, validate=validate.Length(min=1, max=max_length), metadata=metadata
        )
    return fields.String(
        load_default="", validate=validate.Length(max=max_length), metadata=metadata
    )


def quantity(label: Any, *, required: bool = True) -> fields.Decimal:
    return fields.Decimal(
        required=required,
        as_string=True,
        places=None,
        validate=POSITIVE,
        allow_nan=False,
        metadata={"label": label, "input": "number"},
    )


class StepSchema(Schema):
    """Fields every step has. ``occurred_at`` defaults to now; the service checks its range."""

    occurred_at = fields.AwareDateTime(
        load_default=None, metadata={"label": _l("When"), "input": "datetime-local"}
    )
    note = fields.String(
        load_default="", validate=NOTE, metadata={"label": _l("Note"), "input": "textarea"}
    )


class PlantingSchema(StepSchema):
    seed_source = text(_l("Seed or seedling source"), required=True)
    seed_lot = text(_l("Seed lot"))


class FertilisingSchema(StepSchema):
    product = text(_l("Fertiliser"), required=True)
    amount = quantity(_l("Amount"))
    amount_unit = fields.String(
        load_default="kg",
        validate=validate.OneOf(("kg", "g", "lít", "ml", "bao")),
        metadata={
            "label": _l("Unit"),
            "input": "select",
            "choices": ("kg", "g", "lít", "ml", "bao"),
        },
    )


class SprayingSchema(StepSchema):
    product = text(_l("Product sprayed"), required=True)
    active_ingredient = text(_l("Active ingredient"), required=True)
    dose = text(_l("Dose (e.g. 20 ml per 16 l tank)"), required=True)
    phi_days = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=0, max=365),
        metadata={"label": _l("Pre-harvest interval (days)"), "input": "number"},
    )


class IrrigationSchema(StepSchema):
    method = text(_l("Method (drip, furrow, sprinkler...)"))
    water_source = text(_l("Water source"))


class CareSchema(StepSchema):
    activity = text(_l("Activity (weeding, pruning, bagging fruit...)"), required=True)


class HarvestSchema(StepSchema):
    quantity = quantity(_l("Quantity harvested"))


class PackingSchema(StepSchema):
    pack_size = quantity(_l("Pack size"))
    pack_count = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"label": _l("Number of packs"), "input": "number"},
    )


class InspectionSchema(StepSchema):
    inspector = text(_l("Inspection or certification body"), required=True)
    certificate_number = text(_l("Certificate number"))
    result = fields.String(
        required=True,
        validate=validate.OneOf(INSPECTION_RESULTS),
        metadata={"label": _l("Result"), "input": "select", "choices": INSPECTION_RESULTS},
    )


class TransportSchema(StepSchema):
    handed_to = text(_l("Handed over to"), required=True)
    vehicle = text(_l("Vehicle or plate"))


class NoteSchema(StepSchema):
    note = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"label": _l("Note"), "input": "textarea"},
    )


@dataclass(frozen=True)
class StepType:
    name: str
    label: Any
    schema: type[StepSchema]

    @property
    def statement_kind(self) -> str:
        return f"step.{self.name}"

    def form_fields(self) -> list[tuple[str, fields.Field]]:
        """The type's own fields, then the common ones, in declaration order."""
        schema = self.schema()
        common = set(StepSchema._declared_fields)
        own = [(n, f) for n, f in schema.fields.items() if n not in common]
        return own + [
            (n, schema.fields[n])
            for n in ("occurred_at", "note")
            if (n, schema.fields[n]) not in own
        ]


STEP_TYPES: Mapping[str, StepType] = {
    t.name: t
    for t in (
        StepType("planting", _l("Planting / seeding"), PlantingSchema),
        StepType("fertilising", _l("Fertilising"), FertilisingSchema),
        StepType("spraying", _l("Spraying"), SprayingSchema),
        StepType("irrigation", _l("Irrigation"), IrrigationSchema),
        StepType("care", _l("Care / weeding"), CareSchema),
        StepType("harvest", _l("Harvest"), HarvestSchema),
        StepType("packing", _l("Packing"), PackingSchema),
        StepType("inspection", _l("Inspection / certification"), InspectionSchema),
        StepType("transport", _l("Transport / handover"), TransportSchema),
        StepType("note", _l("Note"), NoteSchema),
    )
}


def gtin14(value: str) -> str:
    """Validate a GTIN-8/12/13/14 (mod-10 check digit) and return it as 14 digits."""
    digits = value.strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        raise ValidationError(str(_l("A GTIN has 8, 12, 13 or 14 digits.")))
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise ValidationError(str(_l("The GTIN check digit is wrong.")))
    return digits.zfill(14)


class BatchSchema(Schema):
    product = text(_l("Product"), required=True, max_length=BATCH_TEXT)
    variety = text(_l("Variety"), max_length=BATCH_TEXT)
    plot = text(_l("Plot"), max_length=BATCH_TEXT)
    unit = fields.String(
        required=True,
        validate=validate.OneOf(UNITS),
        metadata={"label": _l("Unit"), "input": "select", "choices": UNITS},
    )
    expected_quantity = fields.Decimal(
        load_default=None,
        as_string=True,
        places=None,
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_BATCH_QUANTITY),
        metadata={"label": _l("Expected quantity"), "input": "number"},
    )
    start_date = fields.Date(required=True, metadata={"label": _l("Start date"), "input": "date"})
    lot = fields.String(
        load_default="",
        metadata={"label": _l("Lot code (letters, digits, . _ -)"), "input": "text"},
    )
    gtin = fields.String(
        load_default="", metadata={"label": _l("GTIN (optional)"), "input": "text"}
    )

    @validates("lot")
    def _lot(self, value: str, **_: Any) -> None:
        if value and not LOT_RE.match(value):
            raise ValidationError(
                str(_l("Use 1 to 20 letters, digits, dots, dashes or underscores."))
            )

    @validates("gtin")
    def _gtin(self, value: str, **_: Any) -> None:
        if value:
            gtin14(value)

    @validates("start_date")
    def _start(self, value: date, **_: Any) -> None:
        if value.year < 2000 or value > date.today().replace(year=date.today().year + 1):
            raise ValidationError(str(_l("Enter a start date between 2000 and next year.")))


class CorrectionSchema(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"label": _l("What was wrong"), "input": "textarea"},
    )


def as_statement_value(value: Any) -> Any:
    """Decimals travel as strings in signed statements (never as floats)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value

"""Production step types and their fields: one marshmallow schema per type, used by the web
forms (which render from the field metadata) and by the JSON API alike."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate, validates

NOTE = validate.Length(max=1000)
POSITIVE = validate.Range(min=0, min_inclusive=False)
UNITS = ("kg", "tấn", "quả", "bó", "bao", "thùng", "lít", "cây", "hộp")
LOT_RE = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
INSPECTION_RESULTS = ("pass", "fail", "conditional")
INSPECTION_LABELS = {
    "pass": _l("Passed"),
    "fail": _l("Failed"),
    "conditional": _l("Passed with conditions"),
}
BATCH_TEXT = 120  # batches.product, variety and plot are VARCHAR(120)
MAX_BATCH_QUANTITY = Decimal("99999999999.999")  # batches.expected_quantity is NUMERIC(14, 3)


def N_(message: str) -> str:
    """Marks a msgid for extraction; it is translated where it is used."""
    return message


# marshmallow's own messages that these schemas can produce, as marshmallow words them: they are
# the msgids, so English is unchanged (the {placeholders} are filled in by marshmallow). Temporal
# fields' "{obj_type}" and "{awareness}" are filled in before the lookup (see _translated).
MARSHMALLOW_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Not a valid integer."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid date."),
    N_("Not a valid datetime."),
    N_("Not a valid aware datetime."),
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be greater than {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be less than {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than {max}."),
    N_("Must be greater than {min} and less than {max}."),
    N_("Must be one of: {choices}."),
    N_("Unknown field."),
    N_("Invalid input type."),
)
VALIDATOR_MESSAGES = ("error", "message_min", "message_max", "message_all", "message_equal")


def _translated(message: Any, field: fields.Field[Any] | None = None) -> Any:
    if not isinstance(message, str):
        return message
    if field is not None and "{obj_type}" in message:  # "Not a valid {obj_type}." and the like
        message = message.replace("{obj_type}", getattr(field, "OBJ_TYPE", "{obj_type}"))
        message = message.replace("{awareness}", getattr(field, "AWARENESS", "{awareness}"))
    return gettext(message)


def _translated_validator(validator: Any) -> Any:
    if not isinstance(validator, validate.Validator):
        return validator
    translated = copy.copy(validator)  # the field's validators are shared by every instance
    for name in VALIDATOR_MESSAGES:
        message = getattr(validator, name, None)
        if isinstance(message, str):
            setattr(translated, name, _translated(message))
    return translated


class TranslatedSchema(marshmallow.Schema):
    """A schema whose error messages, marshmallow's own included, are in the language of the
    request: they are looked up when the schema is made, so make one per request (the services
    do). The web forms and the JSON API both validate with these schemas."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_messages = {k: _translated(v) for k, v in self.error_messages.items()}

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        # Each schema instance has its own (shallow) copy of a field: replace, never mutate.
        field_obj.error_messages = {
            k: _translated(v, field_obj) for k, v in field_obj.error_messages.items()
        }
        field_obj.validators = [_translated_validator(v) for v in field_obj.validators]


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


class StepSchema(TranslatedSchema):
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
        metadata={
            "label": _l("Result"),
            "input": "select",
            "choices": INSPECTION_RESULTS,
            "choice_labels": INSPECTION_LABELS,  # shown instead of the values sent
        },
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
        """The type's own fields, then the common ones, in declaration order: the schema's
        declared fields, which say how to show and bound a value. (Making a schema instead,
        with its messages translated, was most of the time a batch page took to render.)"""
        declared = self.schema._declared_fields
        own = [(n, f) for n, f in declared.items() if n not in StepSchema._declared_fields]
        return own + [(n, declared[n]) for n in ("occurred_at", "note")]


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


class BatchSchema(TranslatedSchema):
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
    gtin = fields.String(load_default="", metadata={"label": _l("GTIN barcode"), "input": "text"})

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


class CorrectionSchema(TranslatedSchema):
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

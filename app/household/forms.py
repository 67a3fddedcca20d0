"""HTML forms of the household pages: fields described once (from the marshmallow schemas in
app.steps, or from the household model for the profile), rendered by one template macro and
read back into the plain dicts the services take."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from werkzeug.datastructures import MultiDict

from ..errors import DomainError
from ..models import Household, Step
from ..models.households import PUBLIC_FIELDS
from ..services.batches import MAX_PHOTOS
from ..services.photos import MAX_PHOTO_BYTES
from ..steps import BatchSchema, CorrectionSchema, StepType
from . import localtime


@dataclass(frozen=True)
class FormField:
    name: str
    label: Any
    input: str  # an <input> type, or "select" / "textarea"
    required: bool = False
    choices: tuple[tuple[str, Any], ...] = ()  # (value, label or None to show the value)
    max_length: int | None = None
    minimum: Any = None
    maximum: Any = None
    step: str | None = None  # for number inputs: "1" for whole numbers, "any" for decimals
    default: str = ""
    hint: Any = None
    inputmode: str | None = None


def describe(name: str, field: fields.Field[Any]) -> FormField:
    """A form field from a schema field: its metadata says how to show it, its validators
    give the browser the same limits the service enforces."""
    meta = field.metadata
    length = next((v for v in field.validators if isinstance(v, validate.Length)), None)
    bounds = next((v for v in field.validators if isinstance(v, validate.Range)), None)
    kind = meta.get("input", "text")
    number = kind == "number"
    whole = isinstance(field, fields.Integer)
    labels = meta.get("choice_labels", {})
    return FormField(
        name=name,
        label=meta["label"],
        input=kind,
        required=field.required,
        choices=tuple((value, labels.get(value)) for value in meta.get("choices", ())),
        max_length=length.max if length else None,
        minimum=bounds.min if bounds else None,
        maximum=bounds.max if bounds else None,
        step=("1" if whole else "any") if number else None,
        default=field.load_default if isinstance(field.load_default, str) else "",
        hint=_l("Leave empty to use the current time.") if kind == "datetime-local" else None,
        inputmode=("numeric" if whole else "decimal") if number else None,
    )


def step_fields(step_type: StepType) -> list[FormField]:
    return [describe(name, field) for name, field in step_type.form_fields()]


BATCH_FIELDS = [describe(name, field) for name, field in BatchSchema().fields.items()]
REASON_FIELD = describe("reason", CorrectionSchema().fields["reason"])
# Rendered by hand (its attributes are fixed), described for the error summary's label.
PHOTOS_FIELD = FormField(name="photos", label=_l("Photos"), input="file")


def defaults(form_fields: Iterable[FormField]) -> dict[str, str]:
    return {f.name: f.default for f in form_fields if f.default}


def _typed(form: Mapping[str, str], name: str) -> str:
    # Browsers send textarea line breaks as CRLF; store what was typed, not the transport.
    return form.get(name, "").replace("\r\n", "\n").strip()


def submitted(form: Mapping[str, str], form_fields: Iterable[FormField]) -> dict[str, str]:
    """The filled-in fields, trimmed. Empty ones are left out, so the schema applies its
    defaults and reports a required field as missing rather than as too short."""
    data = {}
    for field in form_fields:
        value = _typed(form, field.name)
        if value:
            data[field.name] = (
                localtime.from_input(value) if field.input == "datetime-local" else value
            )
    return data


def correction(
    form: Mapping[str, str], form_fields: Iterable[FormField], recorded: Mapping[str, str]
) -> dict[str, str]:
    """The reason, plus the corrected values if any differ from the recorded ones: the form
    starts from those, so a household that only explains what was wrong changes nothing."""
    form_fields = list(form_fields)
    data = {"reason": _typed(form, "reason")}
    if {f.name: _typed(form, f.name) for f in form_fields} != recorded:
        data.update(submitted(form, form_fields))
    return data


def step_values(step: Step, form_fields: Iterable[FormField]) -> dict[str, str]:
    """A recorded step's values as the form shows them, to start a correction from."""
    values = {f.name: str(step.data.get(f.name, "")) for f in form_fields}
    values["occurred_at"] = localtime.input_value(step.occurred_at)
    return values


def uploaded_photos(files: MultiDict[str, Any]) -> list[bytes]:
    """The chosen photos' bytes. Reading one byte past the size limit is enough for
    prepare_photo to refuse an oversized photo without holding all of it in memory, and one
    photo past the count limit is enough for the service to refuse too many."""
    chosen = [upload for upload in files.getlist("photos") if upload.filename]
    return [upload.read(MAX_PHOTO_BYTES + 1) for upload in chosen[: MAX_PHOTOS + 1]]


# One-time form tokens: each rendered form carries a fresh one, and the service records it as
# the idempotency key, so a form re-sent over a flaky connection is recorded once.
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


def idempotency_key(form: Mapping[str, str]) -> str:
    token = form.get("form_token", "")
    if not FORM_TOKEN.fullmatch(token):
        raise DomainError(_("This form is incomplete. Please reload the page and try again."))
    return "form:" + token


PRIVATE_FIELDS = ("phone", "bank_bin", "bank_account", "bank_account_name", "share_location")
_PROFILE_LABELS = {
    "head_name": _l("Head of household"),
    "hamlet": _l("Hamlet"),
    "commune": _l("Commune"),
    "province": _l("Province"),
    "crops": _l("Crops"),
    "sanitation": _l("Sanitation (toilet, animal pens, clean water)"),
    "waste_treatment": _l("Waste treatment (packaging, pesticide bottles, manure)"),
    "certificates": _l("Certificates (VietGAP, organic...)"),
    "phone": _l("Contact phone"),
    "bank_bin": _l("Bank code (BIN, 6 digits)"),
    "bank_account": _l("Bank account number"),
    "bank_account_name": _l("Account holder name"),
    "share_location": _l("Publish where my photos were taken (GPS from the photo)"),
}
_PROFILE_INPUTS = {"phone": "tel", "share_location": "checkbox"}


def _profile_field(name: str) -> FormField:
    # Lengths come from the columns; unbounded text columns get a textarea.
    max_length = getattr(Household.__table__.c[name].type, "length", None)
    kind = _PROFILE_INPUTS.get(name) or ("text" if max_length else "textarea")
    return FormField(
        name=name,
        label=_PROFILE_LABELS[name],
        input=kind,
        required=name == "head_name",
        max_length=max_length if kind == "text" else None,
        inputmode="numeric" if name in ("bank_bin", "bank_account") else None,
    )


PUBLIC_PROFILE_FIELDS = [_profile_field(name) for name in PUBLIC_FIELDS]
PRIVATE_PROFILE_FIELDS = [_profile_field(name) for name in PRIVATE_FIELDS]


def profile_values(household: Household) -> dict[str, str]:
    values = {name: getattr(household, name) for name in (*PUBLIC_FIELDS, *PRIVATE_FIELDS)}
    values["share_location"] = "1" if household.share_location else ""
    return values


def profile_changes(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """(public, private) as update_profile takes them. Every field is sent, empty ones too, so
    a household can clear a field; an unticked checkbox is simply absent from the form."""
    public = {name: form.get(name, "").strip() for name in PUBLIC_FIELDS}
    private: dict[str, Any] = {name: form.get(name, "").strip() for name in PRIVATE_FIELDS}
    private["share_location"] = "share_location" in form
    return public, private

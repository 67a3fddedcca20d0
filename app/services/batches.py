"""Batches and their production steps: every change is a signed ledger statement."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Goc
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Batch, Household, IdempotencyRecord, Step, StepPhoto, User, batch_subject
from ..steps import STEP_TYPES, BatchSchema, CorrectionSchema, as_statement_value, gtin14
from .codes import new_code
from .ledger_statements import append, begin_write, household_signer, sign
from .photos import PreparedPhoto, store_photo

MAX_PHOTOS = 5
MAX_BACKDATE = timedelta(days=366)
CLOCK_SKEW = timedelta(minutes=5)
T = TypeVar("T")


def load(schema: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``data`` with a marshmallow schema, raising ValidationFailed naming the fields."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed(_("Please correct the highlighted fields."), errors=errors) from exc
    return loaded


def own_household(actor: User, household: Household) -> None:
    if actor.household_id != household.id:
        raise Forbidden(_("You can only change your own household's batches."))


def _request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _idempotent(
    session: Session,
    actor: User,
    key: str | None,
    payload: Any,
    action: Callable[[IdempotencyRecord | None], T],
    replay: Callable[[IdempotencyRecord], T],
) -> T:
    """Run ``action`` once per (actor, key): a retry with the same key returns the first result.

    The record is inserted in the same transaction as the ledger append, so a retry racing the
    first attempt waits for it and then replays it; the same key with another payload conflicts.
    """
    if key and len(key) > 128:
        raise ValidationFailed(
            _("Idempotency key too long."),
            errors={"Idempotency-Key": [_("At most 128 characters.")]},
        )
    begin_write(session)
    if not key:
        return action(None)
    digest = _request_hash(payload)

    def existing() -> IdempotencyRecord | None:
        return session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == actor.id, IdempotencyRecord.key == key
            )
        )

    def replayed(record: IdempotencyRecord) -> T:
        if record.request_hash != digest:
            raise Conflict(
                _("This form was already sent with different details. Please reload the page.")
            )
        return replay(record)

    found = existing()
    if found is not None:
        return replayed(found)
    record = IdempotencyRecord(user_id=actor.id, key=key, request_hash=digest)
    session.add(record)
    try:
        session.flush()
        return action(record)
    except IntegrityError:
        session.rollback()
        found = existing()
        if found is None:
            raise
        return replayed(found)


def create_batch(
    session: Session,
    goc: Goc,
    *,
    actor: User,
    data: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> Batch:
    household = actor.household
    if household is None:
        raise Forbidden(_("Only a household can create batches."))
    fields = load(BatchSchema(), data)

    def action(record: IdempotencyRecord | None) -> Batch:
        code = new_code("B")
        lot = fields["lot"] or f"L{fields['start_date']:%y%m%d}{code[-3:]}"
        gtin = gtin14(fields["gtin"]) if fields["gtin"] else None
        if gtin and session.scalar(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot)):
            raise ValidationFailed(
                _("That GTIN and lot already exist."),
                errors={"lot": [_("Already used with this GTIN.")]},
            )
        body = {
            "household": household.code,
            "product": fields["product"],
            "variety": fields["variety"],
            "plot": fields["plot"],
            "unit": fields["unit"],
            "expected_quantity": as_statement_value(fields["expected_quantity"]),
            "start_date": fields["start_date"].isoformat(),
            "lot": lot,
            "gtin": gtin,
        }
        [entry] = append(
            session,
            goc,
            [sign(household_signer(goc, household), "batch.create", batch_subject(code), body)],
        )
        batch = Batch(
            code=code,
            household=household,
            product=fields["product"],
            variety=fields["variety"],
            plot=fields["plot"],
            unit=fields["unit"],
            expected_quantity=fields["expected_quantity"],
            start_date=fields["start_date"],
            lot=lot,
            gtin=gtin,
            seq=entry.seq,
        )
        batch.index_for_search()
        session.add(batch)
        session.flush()
        if record is not None:
            record.batch_id = batch.id
        session.commit()
        return batch

    def replay(record: IdempotencyRecord) -> Batch:
        batch = session.get(Batch, record.batch_id) if record.batch_id else None
        if batch is None:
            raise Conflict(
                _("This form was already used for something else. Please reload the page.")
            )
        return batch

    return _idempotent(session, actor, idempotency_key, {"batch": dict(data)}, action, replay)


def get_batch(session: Session, code: str) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.code == code))
    if batch is None:
        raise NotFound(_("No batch with that code."))
    return batch


def _check_time(occurred_at: datetime | None, batch: Batch) -> datetime:
    now = datetime.now(UTC)
    if occurred_at is None:
        return now
    occurred_at = occurred_at.astimezone(UTC)
    if occurred_at > now + CLOCK_SKEW:
        raise ValidationFailed(
            _("The time is in the future."),
            errors={"occurred_at": [_("A step cannot be recorded in the future.")]},
        )
    earliest = max(
        now - MAX_BACKDATE,
        datetime.combine(batch.start_date, datetime.min.time(), UTC) - timedelta(days=1),
    )
    if occurred_at < earliest:
        raise ValidationFailed(
            _("The time is too far back."),
            errors={
                "occurred_at": [
                    _("A step must be after the batch start date and within the last year.")
                ]
            },
        )
    return occurred_at


def _step_body(
    batch: Batch, values: Mapping[str, Any], photos: Sequence[PreparedPhoto]
) -> dict[str, Any]:
    body = {k: as_statement_value(v) for k, v in values.items() if k != "occurred_at"}
    body["batch"] = batch.code
    body["unit"] = batch.unit
    if photos:
        body["photos"] = [
            {
                "sha256": p.sha256,
                **(
                    {"location": {"lat": p.location[0], "lon": p.location[1]}} if p.location else {}
                ),
            }
            for p in photos
        ]
    return body


def _append_step(
    session: Session,
    goc: Goc,
    batch: Batch,
    kind: str,
    body: dict[str, Any],
    occurred_at: datetime,
    photos: Sequence[PreparedPhoto],
    corrects: Step | None = None,
) -> Step:
    stored = [store_photo(session, goc.storage, p) for p in photos]
    signed = sign(
        household_signer(goc, batch.household),
        f"step.{kind}",
        batch.subject,
        body,
        time=occurred_at,
        attachments=[p.sha256 for p in photos],
    )
    [entry] = append(session, goc, [signed])
    step = Step(
        batch=batch,
        kind=kind,
        occurred_at=occurred_at,
        data=body,
        seq=entry.seq,
        entry_hash=entry.hash,
        corrects=corrects,
    )
    session.add(step)
    session.flush()
    for position, photo in enumerate(stored):
        session.add(StepPhoto(step_id=step.id, position=position, photo_sha256=photo.sha256))
    return step


def record_step(
    session: Session,
    goc: Goc,
    *,
    actor: User,
    batch: Batch,
    kind: str,
    data: Mapping[str, Any],
    photos: Sequence[PreparedPhoto] = (),
    idempotency_key: str | None = None,
) -> Step:
    """Record a production step; returns only after its ledger entry has committed."""
    own_household(actor, batch.household)
    step_type = STEP_TYPES.get(kind)
    if step_type is None:
        raise ValidationFailed(
            _("Unknown step type."),
            errors={"kind": [_("Choose one of: %(kinds)s.", kinds=", ".join(STEP_TYPES))]},
        )
    values = load(step_type.schema(), data)
    occurred_at = _check_time(values.get("occurred_at"), batch)
    if len(photos) > MAX_PHOTOS:
        raise ValidationFailed(
            _("Too many photos."),
            errors={"photos": [_("At most %(n)d photos per step.", n=MAX_PHOTOS)]},
        )
    body = _step_body(batch, values, photos)
    payload = {
        "batch": batch.code,
        "kind": kind,
        "data": dict(data),
        "photos": [p.sha256 for p in photos],
    }

    def action(record: IdempotencyRecord | None) -> Step:
        step = _append_step(session, goc, batch, kind, body, occurred_at, photos)
        if record is not None:
            record.step_id = step.id
        session.commit()
        return step

    return _idempotent(session, actor, idempotency_key, payload, action, _replay_step(session))


def _replay_step(session: Session) -> Callable[[IdempotencyRecord], Step]:
    def replay(record: IdempotencyRecord) -> Step:
        step = session.get(Step, record.step_id) if record.step_id else None
        if step is None:
            raise Conflict(
                _("This form was already used for something else. Please reload the page.")
            )
        return step

    return replay


def correct_step(
    session: Session,
    goc: Goc,
    *,
    actor: User,
    step: Step,
    data: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> Step:
    """Record a ``step.correct`` statement naming the step it corrects; nothing is edited.

    ``data`` holds the ``reason`` and, optionally, the corrected values of the step's own fields.
    """
    batch = step.batch
    own_household(actor, batch.household)
    if step.kind == "correct":
        raise ValidationFailed(
            _("Correct the original step instead."),
            errors={"step": [_("This is already a correction.")]},
        )
    reason = load(CorrectionSchema(), {"reason": data.get("reason", "")})["reason"]
    replacement_data = {k: v for k, v in data.items() if k != "reason"}
    body: dict[str, Any] = {
        "batch": batch.code,
        "corrects": {"seq": step.seq, "entry_hash": step.entry_hash.hex(), "kind": step.kind},
        "reason": reason,
    }
    if any(v not in (None, "") for v in replacement_data.values()):
        values = load(STEP_TYPES[step.kind].schema(), replacement_data)
        values["occurred_at"] = _check_time(values.get("occurred_at"), batch).isoformat()
        body["replacement"] = {k: as_statement_value(v) for k, v in values.items()}
    payload = {"correct": step.seq, "data": dict(data)}

    def action(record: IdempotencyRecord | None) -> Step:
        correction = _append_step(
            session, goc, batch, "correct", body, datetime.now(UTC), (), corrects=step
        )
        if record is not None:
            record.step_id = correction.id
        session.commit()
        return correction

    return _idempotent(session, actor, idempotency_key, payload, action, _replay_step(session))


def batches_of(session: Session, household: Household) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch).where(Batch.household_id == household.id).order_by(Batch.id.desc())
        )
    )

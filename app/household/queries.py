"""What a household's pages read. Every lookup is filtered by the household, so another
household's batch, step or photo is answered exactly like one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from marshmallow.fields import Decimal as DecimalField
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import Batch, Household, Photo, Step, StepPhoto
from ..services.photos import photo_key
from ..steps import STEP_TYPES
from . import localtime

CORRECTION = "correct"  # the kind of a step that corrects another (services.batches)
BATCHES_PER_PAGE = 30
# A page of the timeline stays well under 100 KB even with long notes and corrections.
STEPS_PER_PAGE = 25
SHA256_HEX = frozenset("0123456789abcdef")


def own_batch(session: Session, household: Household, code: str) -> Batch:
    batch = session.scalar(
        select(Batch).where(Batch.code == code, Batch.household_id == household.id)
    )
    if batch is None:
        raise NotFound(_("No batch with that code."))
    return batch


def own_step(session: Session, household: Household, step_id: int) -> Step:
    step = session.scalar(
        select(Step)
        .join(Batch, Batch.id == Step.batch_id)
        .where(Step.id == step_id, Batch.household_id == household.id)
    )
    if step is None:
        raise NotFound(_("No such step."))
    return step


def owned_photo_key(session: Session, household: Household, sha256: str) -> str:
    """The storage key of a photo or thumbnail attached to one of the household's steps."""
    return attached_photo_key(session, sha256, household=household)


def attached_photo_key(session: Session, sha256: str, *, household: Household | None = None) -> str:
    """The storage key of a photo or thumbnail attached to some step (of ``household``'s
    batches, if given); any other digest is not found."""
    missing = NotFound(_("No such photo."))
    if len(sha256) != 64 or not SHA256_HEX.issuperset(sha256):
        raise missing
    query = (
        select(Photo.sha256)
        .join(StepPhoto, StepPhoto.photo_sha256 == Photo.sha256)
        .join(Step, Step.id == StepPhoto.step_id)
        .where(or_(Photo.sha256 == sha256, Photo.thumb_sha256 == sha256))
    )
    if household is not None:
        query = query.join(Batch, Batch.id == Step.batch_id).where(
            Batch.household_id == household.id
        )
    if session.scalar(query.limit(1)) is None:
        raise missing
    return photo_key(sha256)


@dataclass(frozen=True)
class BatchSummary:
    batch: Batch
    step_count: int


def batch_summaries(
    session: Session, household: Household, page: int
) -> tuple[list[BatchSummary], bool]:
    """One page of the household's batches, newest first, and whether an older page exists."""
    counts = (
        select(Step.batch_id, func.count().label("n"))
        .where(Step.kind != CORRECTION)
        .group_by(Step.batch_id)
        .subquery()
    )
    rows = session.execute(
        select(Batch, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.batch_id == Batch.id)
        .where(Batch.household_id == household.id)
        .order_by(Batch.id.desc())
        .offset((page - 1) * BATCHES_PER_PAGE)
        .limit(BATCHES_PER_PAGE + 1)
    ).all()
    summaries = [BatchSummary(batch, count) for batch, count in rows]
    return summaries[:BATCHES_PER_PAGE], len(summaries) > BATCHES_PER_PAGE


@dataclass
class TimelineItem:
    step: Step
    label: Any
    when: str
    rows: list[tuple[Any, str]]
    corrections: list[TimelineItem] = field(default_factory=list)

    @property
    def short_hash(self) -> str:
        return self.step.entry_hash.hex()[:12]


def shown_fields(kind: str, values: dict[str, Any], unit: str) -> dict[str, tuple[Any, str]]:
    """Label and shown text of each filled-in field of a step of ``kind``, by field name."""
    schema_fields = dict(STEP_TYPES[kind].form_fields())
    shown = {}
    for name, schema_field in schema_fields.items():
        value = values.get(name)
        if value in (None, ""):
            continue
        if name == "occurred_at":
            text = localtime.display(datetime.fromisoformat(value))
        elif isinstance(schema_field, DecimalField) and f"{name}_unit" not in schema_fields:
            # A quantity without a unit field of its own is in the batch's unit.
            text = f"{value} {unit}"
        elif "choice_labels" in schema_field.metadata:  # a code shows as its label
            text = str(schema_field.metadata["choice_labels"].get(value, value))
        else:
            text = str(value)
        shown[name] = (schema_field.metadata["label"], text)
    return shown


def _step_item(step: Step, unit: str) -> TimelineItem:
    rows = list(shown_fields(step.kind, step.data, unit).values())
    when = localtime.display(step.occurred_at)
    return TimelineItem(step=step, label=STEP_TYPES[step.kind].label, when=when, rows=rows)


def _correction_item(correction: Step, original: Step, unit: str) -> TimelineItem:
    """A correction shows its reason and those of its replacement values that differ from the
    original's (the replacement repeats every field; a field it empties shows as a dash)."""
    rows: list[tuple[Any, str]] = [(_("Reason"), correction.data["reason"])]
    replacement = correction.data.get("replacement")
    if replacement is not None:
        recorded = {**original.data, "occurred_at": original.occurred_at.isoformat()}
        before = shown_fields(original.kind, recorded, unit)
        after = shown_fields(original.kind, replacement, unit)
        for name, schema_field in STEP_TYPES[original.kind].form_fields():
            old, new = before.get(name, ("", ""))[1], after.get(name, ("", ""))[1]
            if old != new:
                rows.append((schema_field.metadata["label"], new or "—"))
    when = localtime.display(correction.occurred_at)
    return TimelineItem(step=correction, label=_("Correction"), when=when, rows=rows)


def timeline(session: Session, batch: Batch, page: int) -> tuple[list[TimelineItem], bool]:
    """One page of the batch's steps, latest first, each with the corrections made to it;
    and whether an earlier page exists."""
    steps = list(
        session.scalars(
            select(Step)
            .where(Step.batch_id == batch.id, Step.kind != CORRECTION)
            .order_by(Step.occurred_at.desc(), Step.seq.desc())
            .offset((page - 1) * STEPS_PER_PAGE)
            .limit(STEPS_PER_PAGE + 1)
        )
    )
    more = len(steps) > STEPS_PER_PAGE
    items = {step.id: _step_item(step, batch.unit) for step in steps[:STEPS_PER_PAGE]}
    if items:
        for correction in session.scalars(
            select(Step).where(Step.corrects_id.in_(list(items))).order_by(Step.seq)
        ):
            item = items[correction.corrects_id]
            item.corrections.append(_correction_item(correction, item.step, batch.unit))
    return list(items.values()), more

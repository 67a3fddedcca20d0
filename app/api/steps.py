"""Production steps of a batch, and corrections: each is a signed ledger statement."""

from __future__ import annotations

from ..context import goc
from ..extensions import db
from ..models import Step
from ..models._types import MAX_INTEGER
from ..services import batches as service
from ..services.photos import MAX_PHOTO_BYTES, prepare_photo
from .auth import ApiBlueprint, api_household, api_user, own_batch, own_step
from .body import request_body, submitted_fields, uploaded_photos
from .schemas import STEP_JSON, STEP_MULTIPART, CorrectionInput, IdempotencyHeaders, StepOut

blp = ApiBlueprint("steps", __name__, description="Production steps and their corrections.")


@blp.route("/batches/<code>/steps")
@blp.response(200, StepOut(many=True))
@blp.alt_response(404, response="NOT_FOUND")
def list_steps(code: str) -> list[Step]:
    """List a batch's steps with their ledger sequence numbers and entry hashes"""
    return list(own_batch(code).steps)


@blp.route("/batches/<code>/steps", methods=["POST"])
@blp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@request_body(
    STEP_JSON,
    multipart=STEP_MULTIPART,
    description="`kind` and the fields of that step type; photos need multipart/form-data.",
)
@blp.response(201, StepOut)
@blp.write_errors
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
def record_step(code: str, idempotency_key: str | None) -> Step:
    """Record a production step, with photos if sent as multipart/form-data"""
    household = api_household()
    batch = own_batch(code)
    data = submitted_fields(multipart=True)
    kind = data.pop("kind", "")
    photos = [
        prepare_photo(upload.read(MAX_PHOTO_BYTES + 1), keep_location=household.share_location)
        for upload in uploaded_photos()
    ]
    return service.record_step(
        db.session,
        goc(),
        actor=api_user(),
        batch=batch,
        kind=kind if isinstance(kind, str) else "",
        data=data,
        photos=photos,
        idempotency_key=idempotency_key,
    )


@blp.route(f"/steps/<int(max={MAX_INTEGER}):seq>/corrections", methods=["POST"])
@blp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@request_body(
    CorrectionInput,
    description="The `reason` and, optionally, corrected values of the step type's fields.",
)
@blp.response(201, StepOut)
@blp.write_errors
@blp.alt_response(404, response="NOT_FOUND")
def correct_step(seq: int, idempotency_key: str | None) -> Step:
    """Correct a recorded step (a step.correct statement naming it; nothing is edited)"""
    return service.correct_step(
        db.session,
        goc(),
        actor=api_user(),
        step=own_step(seq),
        data=submitted_fields(),
        idempotency_key=idempotency_key,
    )

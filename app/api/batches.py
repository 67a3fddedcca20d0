"""Batches: a household lists, creates and reads its own production batches."""

from __future__ import annotations

from ..context import goc
from ..extensions import db
from ..models import Batch
from ..services import batches as service
from .auth import ApiBlueprint, api_household, api_user, own_batch
from .body import request_body, submitted_fields
from .schemas import BatchInput, BatchOut, IdempotencyHeaders

blp = ApiBlueprint("batches", __name__, description="A household's production batches.")


@blp.route("/batches")
@blp.response(200, BatchOut(many=True))
def list_batches() -> list[Batch]:
    """List the caller household's batches, newest first"""
    return service.batches_of(db.session, api_household())


@blp.route("/batches", methods=["POST"])
@blp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@request_body(BatchInput)
@blp.response(201, BatchOut)
@blp.write_errors
def create_batch(idempotency_key: str | None) -> Batch:
    """Create a batch (signed into the ledger as batch.create)"""
    return service.create_batch(
        db.session,
        goc(),
        actor=api_user(),
        data=submitted_fields(),
        idempotency_key=idempotency_key,
    )


@blp.route("/batches/<code>")
@blp.response(200, BatchOut)
@blp.alt_response(404, response="NOT_FOUND")
def get_batch(code: str) -> Batch:
    """Read one of the caller household's batches"""
    return own_batch(code)

"""SQLAlchemy models of the app (the ledger's own tables live in ledger.schema)."""

from .accounts import ApiToken, LoginAttempt, Role, User
from .batches import Batch, IdempotencyRecord, Photo, Step, StepPhoto
from .households import Household, HouseholdKey

__all__ = [
    "ApiToken",
    "Batch",
    "Household",
    "HouseholdKey",
    "IdempotencyRecord",
    "LoginAttempt",
    "Photo",
    "Role",
    "Step",
    "StepPhoto",
    "User",
]

"""SQLAlchemy models of the app (the ledger's own tables live in ledger.schema)."""

from .accounts import ApiToken, LoginAttempt, Role, User
from .batches import Batch, IdempotencyRecord, Photo, Step, StepPhoto, batch_subject
from .households import Household, HouseholdKey
from .orders import (
    OPEN_STATUSES,
    Offer,
    Order,
    OrderStatus,
    Payment,
    PaymentFlag,
    PaymentMethod,
    WebhookDelivery,
)

__all__ = [
    "OPEN_STATUSES",
    "ApiToken",
    "Batch",
    "Household",
    "HouseholdKey",
    "IdempotencyRecord",
    "LoginAttempt",
    "Offer",
    "Order",
    "OrderStatus",
    "Payment",
    "PaymentFlag",
    "PaymentMethod",
    "Photo",
    "Role",
    "Step",
    "StepPhoto",
    "User",
    "WebhookDelivery",
    "batch_subject",
]

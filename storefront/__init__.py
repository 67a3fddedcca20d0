"""The public storefront: batch and household pages opened from a QR code, with verdicts
recomputed from the ledger. Depends on ``app`` and ``ledger``; only ``create_app`` imports it."""

from .views import bp

__all__ = ["bp"]

"""Payment confirmation from the bank feed: ``POST /payments/webhook/sepay``."""

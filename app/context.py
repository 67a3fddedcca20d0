"""The long-lived collaborators built once by the factory and found through ``current_app``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ledger import Ledger, NoteSigner

from .config import Settings
from .custody import KeyCustody
from .storage import FileStorage


@dataclass(frozen=True)
class Goc:
    settings: Settings
    ledger: Ledger
    authority: NoteSigner
    custody: KeyCustody
    storage: FileStorage


def goc() -> Goc:
    found: Goc = current_app.extensions["goc"]
    return found

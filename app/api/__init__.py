"""The JSON API under /api/v1 (filled in by the API work)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    del app

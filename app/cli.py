"""``flask --app wsgi`` commands (filled in by the CLI work)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    del app

"""The JSON API under /api/v1 for phone apps and integrations (bearer tokens, OpenAPI 3)."""

from __future__ import annotations

from flask import Flask

from ..extensions import openapi
from . import batches, orders, photos, steps
from .auth import BEARER_AUTH, BEARER_SCHEME
from .schemas import number_bounds


def register(app: Flask) -> None:
    """Register the API on ``app`` through ``openapi``, which the factory bound to ``app``."""
    del app  # flask-smorest registers on the app it was initialised with
    openapi.ma_plugin.converter.add_attribute_function(number_bounds)
    openapi.spec.components.security_scheme(BEARER_AUTH, BEARER_SCHEME)
    for blueprint in (batches.blp, steps.blp, photos.blp, orders.offers, orders.blp):
        openapi.register_blueprint(blueprint)

"""The migrations build exactly the app's models and the ledger's tables, on both engines."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from ledger.schema import metadata as ledger_metadata


def test_migrated_database_matches_the_models(app: Any) -> None:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, [db.metadata, ledger_metadata]) == []

"""The Alembic migration creates exactly the ledger's tables, with append-only triggers."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from ledger.schema import LEDGER_TABLES, metadata, normalise_url
from tests.support import Fixture


def test_migrated_schema_matches_the_ledger_metadata(database_url: str) -> None:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_name": lambda name, kind, _: kind != "table" or name in LEDGER_TABLES
                },
            )
            diff = compare_metadata(context, metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == []
        assert set(LEDGER_TABLES) <= tables
    finally:
        engine.dispose()


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_database_refuses_update_and_delete(log: Fixture, table: str) -> None:
    household, _ = log.register("household:H1", 10)
    log.step(household, "batch:B1")
    log.revoke("household:H1", household)
    column = inspect(log.engine).get_columns(table)[0]["name"]
    for sql in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as conn:
            conn.execute(text(sql))
    log.verifier().verify_log(log.ledger.iter_log())

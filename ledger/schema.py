"""The ledger's tables (SQLAlchemy Core) and the triggers that make them append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, make_url

metadata = MetaData()

entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("received_micros", BigInteger, nullable=False),
    # unique: a second entry after the same predecessor would be a fork
    Column("prev_hash", LargeBinary(32), nullable=False, unique=True),
    Column("subject_prev_hash", LargeBinary(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("statement", LargeBinary, nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False, unique=True),
    Index("ix_ledger_entries_subject_seq", "subject", "seq"),
)

nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_micros", BigInteger, nullable=False),
)

keys = Table(
    "ledger_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("owner", String(128), nullable=False, index=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("registered_seq", BigInteger, nullable=False),
)

key_revocations = Table(
    "ledger_key_revocations",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("revoked_seq", BigInteger, nullable=False),
)

subjects = Table(
    "ledger_subjects",
    metadata,
    Column("subject", String(128), primary_key=True),
    Column("owner", String(128), nullable=True),
    Column("created_seq", BigInteger, nullable=False),
)

LEDGER_TABLES = tuple(metadata.tables)


def append_only_ddl(dialect: str, tables: tuple[str, ...] = LEDGER_TABLES) -> list[str]:
    """DDL that makes the database itself refuse UPDATE and DELETE (and TRUNCATE) on ``tables``."""
    statements: list[str] = []
    if dialect == "postgresql":
        statements.append(
            "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$\n"
            "BEGIN\n"
            "  RAISE EXCEPTION 'ledger table % is append-only: % refused', TG_TABLE_NAME, TG_OP\n"
            "    USING ERRCODE = 'insufficient_privilege';\n"
            "END\n"
            "$$ LANGUAGE plpgsql"
        )
        for table in tables:
            statements.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
            )
            statements.append(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
            )
    elif dialect == "sqlite":
        for table in tables:
            for op in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'ledger table {table} is append-only: {op} refused'); "
                    "END"
                )
    else:
        raise ValueError(f"no append-only triggers for the {dialect} dialect")
    return statements


def drop_append_only_ddl(dialect: str, tables: tuple[str, ...] = LEDGER_TABLES) -> list[str]:
    if dialect == "postgresql":
        drops = [
            f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}"
            for table in tables
            for suffix in ("append_only", "no_truncate")
        ]
        return [*drops, "DROP FUNCTION IF EXISTS ledger_refuse_change()"]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in tables for op in ("update", "delete")
    ]


def normalise_url(url: str | URL) -> URL:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


# Execution options for a transaction that will write. On SQLite it begins IMMEDIATE, taking
# the write lock before its first read: a transaction that read first could otherwise fail to
# upgrade its lock once another process has written. Elsewhere it changes nothing.
WRITE_TRANSACTION = {"ledger_write": True}


def configure_engine(engine: Engine) -> Engine:
    """Make an engine safe for the ledger's serialized appends.

    SQLite: WAL (readers never block the writer), full fsync, a busy timeout, and transactions
    opened with :data:`WRITE_TRANSACTION` begun ``IMMEDIATE``. PostgreSQL needs nothing: appends
    take an advisory transaction lock.
    """
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        write = connection.get_execution_options().get("ledger_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def open_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` configured by :func:`configure_engine`."""
    return configure_engine(create_engine(normalise_url(url), **kwargs))

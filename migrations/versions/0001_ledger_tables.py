"""ledger tables, append-only

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from ledger.schema import append_only_ddl, drop_append_only_ddl

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "ledger_entries",
    "ledger_nodes",
    "ledger_checkpoints",
    "ledger_keys",
    "ledger_key_revocations",
    "ledger_subjects",
)


def upgrade():
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_micros", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject_prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("prev_hash"),
        sa.UniqueConstraint("entry_hash"),
    )
    op.create_index("ix_ledger_entries_subject_seq", "ledger_entries", ["subject", "seq"])
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_micros", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("registered_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_ledger_keys_owner", "ledger_keys", ["owner"])
    op.create_table(
        "ledger_key_revocations",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "ledger_subjects",
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("created_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    for statement in append_only_ddl(op.get_bind().dialect.name, TABLES):
        op.execute(statement)


def downgrade():
    for statement in drop_append_only_ddl(op.get_bind().dialect.name, TABLES):
        op.execute(statement)
    for table in reversed(TABLES):
        op.drop_table(table)

"""marketplace search keys: accent-folded text on batches and households

Revision ID: 0004_market_search
Revises: 0003_orders_payments
Create Date: 2026-12-02 11:40:00
"""
from alembic import op
import sqlalchemy as sa

from app.search import search_key


revision = '0004_market_search'
down_revision = '0003_orders_payments'
branch_labels = None
depends_on = None

BATCH_PARTS = ('product', 'variety', 'lot', 'code')
HOUSEHOLD_PARTS = ('head_name', 'hamlet', 'commune', 'province')


def _backfill(table_name, parts):
    table = sa.table(table_name, sa.column('id'), sa.column('search_text'),
                     *(sa.column(p) for p in parts))
    conn = op.get_bind()
    rows = conn.execute(sa.select(table.c.id, *(table.c[p] for p in parts))).all()
    for row in rows:
        conn.execute(
            table.update().where(table.c.id == row[0]).values(search_text=search_key(*row[1:]))
        )


def upgrade():
    for table_name, parts in (('batches', BATCH_PARTS), ('households', HOUSEHOLD_PARTS)):
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('search_text', sa.Text(), server_default='', nullable=False)
            )
        _backfill(table_name, parts)


def downgrade():
    for table_name in ('households', 'batches'):
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.drop_column('search_text')

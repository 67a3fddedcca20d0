"""Alembic environment shared by Flask-Migrate and the ledger.

Under Flask-Migrate (``flask --app wsgi db ...``) the app's engine and metadata are used, with the
ledger's tables added. Without a Flask app (the ledger on its own, its tests and tools) the URL
comes from the ``sqlalchemy.url`` option or ``DATABASE_URL``.
"""

import logging
import os
from logging.config import fileConfig

from alembic import context

from ledger.schema import metadata as ledger_metadata
from ledger.schema import open_engine

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def _flask_migrate():
    try:
        from flask import current_app
    except ImportError:
        return None
    try:
        return current_app.extensions["migrate"]
    except (RuntimeError, KeyError):
        return None


def _target():
    migrate = _flask_migrate()
    if migrate is not None:
        return migrate.db.engine, [migrate.db.metadata, ledger_metadata], migrate.configure_args
    connection = config.attributes.get("connection")
    if connection is not None:
        return connection, [ledger_metadata], {}
    url = config.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]
    return open_engine(url), [ledger_metadata], {}


def run_migrations_offline():
    _, metadata, extra = _target()
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        **extra,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable, metadata, extra = _target()
    if hasattr(connectable, "connect") and not hasattr(connectable, "execute"):
        with connectable.connect() as connection:
            _run(connection, metadata, extra)
        if _flask_migrate() is None:
            connectable.dispose()
    else:
        _run(connectable, metadata, extra)


def _run(connection, metadata, extra):
    context.configure(connection=connection, target_metadata=metadata, **extra)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

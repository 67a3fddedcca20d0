"""Scratch databases for tests, copied from templates each pytest worker prepares once.

Migrating and filling a database for every test costs far more than copying one: a SQLite
template is a file copied, a PostgreSQL template a database that ``CREATE DATABASE ...
TEMPLATE`` clones in a few milliseconds. A template is made by the same code a test would run
(migrations, services), so a copy is exactly the state that code leaves.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

# Prepares the database at a URL, with a folder of its own for any files that go with it.
Prepare = Callable[[str, Path], None]


@dataclass
class DatabaseTemplates:
    """Templates by backend and ``Prepare`` function (its name names the state it makes), each
    made on first use."""

    root: Path  # this worker's folder for SQLite templates and the files beside them
    postgresql_url: str  # the server's URL (any database on it); "" without PostgreSQL
    prefix: str  # unique to this run and worker: PostgreSQL database names start with it
    _made: dict[tuple[str, Prepare], str] = field(default_factory=dict)

    def _admin(self) -> Engine:
        url = make_url(self.postgresql_url).set(drivername="postgresql+psycopg")
        return create_engine(url, isolation_level="AUTOCOMMIT")

    def _database_url(self, name: str) -> str:
        url = make_url(self.postgresql_url).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    def files(self, backend: str, prepare: Prepare) -> Path:
        """The folder of files that goes with a template (copy it beside the database)."""
        return self.root / f"{backend}-{prepare.__name__}-files"

    def _template(self, backend: str, prepare: Prepare) -> str:
        state = prepare.__name__
        made = self._made.get((backend, prepare))
        if made is not None:
            return made
        files = self.files(backend, prepare)
        files.mkdir(parents=True)
        if backend == "sqlite":
            made = str(self.root / f"{state}.db")
            prepare(f"sqlite:///{made}", files)
        else:
            made = f"{self.prefix}_{state}"
            admin = self._admin()
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{made}"'))
            finally:
                admin.dispose()
            prepare(self._database_url(made), files)
        self._made[(backend, prepare)] = made
        return made

    @contextmanager
    def copy(self, backend: str, prepare: Prepare, folder: Path) -> Iterator[str]:
        """A database in the state ``prepare`` makes, the caller's own to change; dropped after.
        A SQLite file goes in ``folder``."""
        template = self._template(backend, prepare)
        if backend == "sqlite":
            path = folder / f"{prepare.__name__}-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(template, path)
            if Path(f"{template}-wal").exists():  # a connection left open: copy its log too
                shutil.copyfile(f"{template}-wal", f"{path}-wal")
            yield f"sqlite:///{path}"
            return
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        admin = self._admin()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            yield self._database_url(name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    def drop(self) -> None:
        """Drop the PostgreSQL templates (SQLite ones go with the worker's temporary folder)."""
        names = [name for (backend, _), name in self._made.items() if backend == "postgresql"]
        if not names:
            return
        admin = self._admin()
        try:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

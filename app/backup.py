"""Logical backups of the whole database (the app's tables and the ledger's) and their restore.

A backup is gzip-compressed JSON Lines: a header (format, migration revision, table order), one
line per row, table by table in foreign-key order and each table in primary-key order, then a
trailer with the row counts, so a truncated file is refused instead of restored in part. Values
are written by column type (bytes as base64, times in ISO 8601, decimals as strings), which makes
a backup portable between SQLite and PostgreSQL.

Restore writes into an empty, migrated database, in one transaction. The ledger's tables refuse
UPDATE and DELETE, never INSERT; rows go back in seq/size order, exactly as they were, so the
restored log verifies and its latest checkpoint is the same signed note with the same root.

Photos are not in the backup: they live in object storage under content-addressed keys, which is
backed up (or versioned/replicated) on its own.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Enum,
    LargeBinary,
    Numeric,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.types import TypeEngine

FORMAT = "goc-backup/v1"
PAGE = 2000  # rows read and inserted at a time: memory stays flat whatever the table sizes


class BackupError(RuntimeError):
    """A backup cannot be written or restored; the message says why."""


@dataclass(frozen=True)
class Codec:
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


def _codec(column_type: TypeEngine[Any]) -> Codec | None:
    """How a column's Python values travel in JSON (None: as they are)."""
    impl = getattr(column_type, "impl", column_type)  # a TypeDecorator's underlying type
    if isinstance(impl, LargeBinary):
        return Codec(lambda v: base64.b64encode(v).decode(), base64.b64decode)
    if isinstance(impl, DateTime):
        return Codec(datetime.isoformat, datetime.fromisoformat)
    if isinstance(impl, Date):
        return Codec(date.isoformat, date.fromisoformat)
    if isinstance(impl, Enum) and impl.enum_class is not None:
        enum_class = impl.enum_class
        return Codec(lambda v: v.name, lambda v: enum_class[v])
    if isinstance(impl, Numeric) and impl.asdecimal:
        return Codec(str, Decimal)
    return None  # strings, numbers, booleans and JSON columns travel as they are


def _codecs(table: Table) -> dict[str, Codec]:
    return {c.name: codec for c in table.columns if (codec := _codec(c.type)) is not None}


def _dump_row(row: dict[str, Any], codecs: dict[str, Codec]) -> dict[str, Any]:
    return {
        name: (codecs[name].dump(v) if v is not None and name in codecs else v)
        for name, v in row.items()
    }


def _load_row(row: dict[str, Any], codecs: dict[str, Codec]) -> dict[str, Any]:
    return {
        name: (codecs[name].load(v) if v is not None and name in codecs else v)
        for name, v in row.items()
    }


def _revision(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic_version table: not a migrated database
        conn.rollback()
        return None


def _lines(engine: Engine, tables: list[Table]) -> Iterator[dict[str, Any]]:
    # One REPEATABLE READ transaction on PostgreSQL: a backup taken while the app serves is one
    # consistent snapshot (SQLite's read transaction is one already).
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield {
                "format": FORMAT,
                "revision": _revision(conn),
                "tables": [t.name for t in tables],
            }
            counts: dict[str, int] = {}
            for table in tables:
                codecs = _codecs(table)
                query = select(table).order_by(*table.primary_key.columns)
                count = 0
                for row in conn.execution_options(yield_per=PAGE).execute(query).mappings():
                    yield {"t": table.name, "r": _dump_row(dict(row), codecs)}
                    count += 1
                counts[table.name] = count
            yield {"end": True, "counts": counts}


def write_backup(engine: Engine, tables: list[Table], out: IO[bytes]) -> dict[str, int]:
    """Write a backup of ``tables`` (in restore order) to the binary stream ``out``."""
    counts: dict[str, int] = {}
    with gzip.GzipFile(fileobj=out, mode="wb") as archive:
        for line in _lines(engine, tables):
            counts = line.get("counts", counts)
            archive.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
            archive.write(b"\n")
    return counts


def _read_lines(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as archive:
            for number, raw in enumerate(archive, start=1):
                try:
                    line = json.loads(raw)
                except ValueError as exc:
                    raise BackupError(f"backup line {number} is not JSON") from exc
                if not isinstance(line, dict):
                    raise BackupError(f"backup line {number} is not a JSON object")
                yield line
    except (OSError, EOFError) as exc:  # not gzip, or cut short
        raise BackupError(f"cannot read the backup: {exc}") from exc


def _non_empty(conn: Connection, tables: list[Table]) -> list[str]:
    return [
        t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar_one()
    ]


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """PostgreSQL hands out ids from sequences, which the restored rows did not advance."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                column.autoincrement == "auto" and len(table.primary_key.columns) == 1
            ):
                sequence = conn.execute(
                    text("SELECT pg_get_serial_sequence(:t, :c)"),
                    {"t": table.name, "c": column.name},
                ).scalar()
                if sequence:
                    conn.execute(
                        text(
                            f"SELECT setval(:s, (SELECT coalesce(max({column.name}), 0) + 1 "
                            f"FROM {table.name}), false)"
                        ),
                        {"s": sequence},
                    )


def read_backup(engine: Engine, tables: list[Table], stream: IO[bytes]) -> dict[str, int]:
    """Restore a backup into the empty database behind ``engine``; all or nothing."""
    by_name = {t.name: t for t in tables}
    lines = _read_lines(stream)
    header = next(lines, None)
    if header is None or header.get("format") != FORMAT:
        raise BackupError(f"not a {FORMAT} backup")
    unknown = set(header.get("tables", [])) - by_name.keys()
    if unknown:
        raise BackupError(f"the backup has tables this version does not know: {sorted(unknown)}")
    with engine.begin() as conn:
        revision = _revision(conn)
        if revision is None:
            raise BackupError("the database is not migrated: run `flask --app wsgi db upgrade`")
        if header.get("revision") != revision:
            raise BackupError(
                f"the backup is of migration {header.get('revision')}, the database is at "
                f"{revision}: migrate the database to the backup's revision first"
            )
        filled = _non_empty(conn, tables)
        if filled:
            raise BackupError(
                "refusing to restore into a database that is not empty "
                f"(rows in {', '.join(filled)}): restore into a new, migrated database"
            )
        counts = {t.name: 0 for t in tables}
        pending: list[dict[str, Any]] = []
        current: Table | None = None
        trailer: dict[str, Any] | None = None

        def flush() -> None:
            if pending and current is not None:
                conn.execute(current.insert(), pending)
                pending.clear()

        for line in lines:
            if trailer is not None:
                raise BackupError("the backup goes on after its last line")
            if line.get("end"):
                trailer = line
                continue
            table = by_name.get(line.get("t", ""))
            if table is None or not isinstance(line.get("r"), dict):
                raise BackupError(f"unexpected line in the backup: {str(line)[:80]}")
            if table is not current:
                flush()
                current = table
            pending.append(_load_row(line["r"], _codecs(table)))
            counts[table.name] += 1
            if len(pending) >= PAGE:
                flush()
        flush()
        if trailer is None:
            raise BackupError("the backup is incomplete (no end line): it was cut short")
        expected = {name: n for name, n in trailer.get("counts", {}).items() if n}
        if expected != {name: n for name, n in counts.items() if n}:
            raise BackupError("the backup's row counts do not match its rows")
        _reset_sequences(conn, tables)
    return counts


# Where backups go: a file path, or s3://bucket/key


def _s3(url: str, endpoint_url: str | None) -> tuple[Any, str, str]:
    import boto3

    parsed = urlparse(url)
    key = parsed.path.lstrip("/")
    if not parsed.netloc or not key:
        raise BackupError("an S3 location looks like s3://bucket/path/to/backup.jsonl.gz")
    return boto3.client("s3", endpoint_url=endpoint_url), parsed.netloc, key


def backup_to(target: str, write: Callable[[IO[bytes]], Any], *, endpoint_url: str | None) -> None:
    """Run ``write`` into ``target``: written to a temporary file first, then moved or uploaded,
    so a failed backup never replaces a good one."""
    if target.startswith("s3://"):
        client, bucket, key = _s3(target, endpoint_url)
        with tempfile.TemporaryFile() as spool:
            write(spool)
            spool.seek(0)
            client.upload_fileobj(spool, bucket, key)  # multipart for large backups
        return
    path = Path(target)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=".backup-")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_source(source: str, *, endpoint_url: str | None) -> IO[bytes]:
    if source.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        client, bucket, key = _s3(source, endpoint_url)
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned open; the caller closes it)
        try:
            client.download_fileobj(bucket, key, spool)
        except (BotoCoreError, ClientError) as exc:
            spool.close()
            raise BackupError(f"cannot download {source}: {exc}") from exc
        spool.seek(0)
        return spool
    try:
        return open(source, "rb")
    except OSError as exc:
        raise BackupError(f"cannot open {source}: {exc}") from exc

"""The log on SQLAlchemy: serialized atomic appends, Merkle nodes, checkpoints, reads and proofs."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Select, and_, bindparam, or_, select, text
from sqlalchemy.sql.compiler import SQLCompiler

from . import schema
from .checkpoint import Checkpoint
from .encoding import micros_to_datetime
from .entry import ZERO_HASH, Entry
from .errors import ConflictError, InvalidStatementError, LedgerError
from .keys import NoteSigner, NoteVerifier
from .merkle import (
    CompactRange,
    NodeId,
    consistency_ranges,
    hashes_for,
    inclusion_ranges,
    perfect_cover,
    verify_consistency,
)
from .rules import KeyRecord, LogState, SubjectState
from .schema import WRITE_TRANSACTION
from .statement import ParsedStatement, SignedStatement

# Any constant works; it only has to be the same in every process that appends.
APPEND_LOCK_ID = 0x67_6F_63_6C_65_64_67  # "gocledg"
ENTRY_COLUMNS = (
    schema.entries.c.seq,
    schema.entries.c.received_micros,
    schema.entries.c.prev_hash,
    schema.entries.c.subject_prev_hash,
    schema.entries.c.statement,
    schema.entries.c.signature,
    schema.entries.c.entry_hash,
)


# Statements built once: building a SQLAlchemy statement costs more than running it on SQLite.
_LAST_SEQ = select(schema.entries.c.seq).order_by(schema.entries.c.seq.desc()).limit(1)
_LATEST_CHECKPOINT = select(schema.checkpoints).order_by(schema.checkpoints.c.size.desc()).limit(1)
_KEYS_BY_ID = (
    select(
        schema.keys.c.key_id,
        schema.keys.c.owner,
        schema.keys.c.public_key,
        schema.keys.c.registered_seq,
        schema.key_revocations.c.revoked_seq,
    )
    .select_from(
        schema.keys.outerjoin(
            schema.key_revocations, schema.key_revocations.c.key_id == schema.keys.c.key_id
        )
    )
    .where(schema.keys.c.key_id.in_(bindparam("ids", expanding=True)))
)
# Each subject's owner and newest entry: one backward index probe per subject, as in
# subject_state (a GROUP BY max(seq) may read every entry of the subjects, or scan them).
_SUBJECTS_BY_NAME = select(
    schema.subjects.c.subject,
    schema.subjects.c.owner,
    select(schema.entries.c.entry_hash)
    .where(schema.entries.c.subject == schema.subjects.c.subject)
    .order_by(schema.entries.c.seq.desc())
    .limit(1)
    .correlate(schema.subjects)
    .scalar_subquery()
    .label("head"),
).where(schema.subjects.c.subject.in_(bindparam("names", expanding=True)))


@functools.lru_cache(maxsize=256)
def _nodes_query(levels: int) -> Select[Any]:
    """Nodes at ``levels`` levels: parameters ``level<n>`` (an int) and ``idx<n>`` (a list).

    One "level = ? AND idx IN (...)" term per level: both databases search the primary key for
    each; SQLite would scan the whole table for a row-value "(level, idx) IN (...)".
    """
    nodes = schema.nodes
    return select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(
        or_(
            *(
                and_(
                    nodes.c.level == bindparam(f"level{n}"),
                    nodes.c.idx.in_(bindparam(f"idx{n}", expanding=True)),
                )
                for n in range(levels)
            )
        )
    )


def now_micros() -> int:
    return time.time_ns() // 1000


# An entry as stored, in ENTRY_COLUMNS order: seq, received_micros, prev_hash,
# subject_prev_hash, statement data, signature, entry_hash. Both drivers return BLOB/bytea
# values as bytes (sqlite3, psycopg 3), so a driver's row is one as it is.
EntryRow = tuple[int, int, bytes, bytes, bytes, bytes, bytes]
_ENTRY_PAGE = (
    select(*ENTRY_COLUMNS)
    .where(schema.entries.c.seq >= bindparam("start"))
    .order_by(schema.entries.c.seq)
    .limit(bindparam("limit"))
)


def interleave_notes(
    rows: Iterable[EntryRow], notes: Iterable[tuple[int, str]]
) -> Iterator[EntryRow | str]:
    """``rows`` in seq order with each checkpoint note (``(size, note)``, by size) placed
    before the first row at or beyond its size, so right after the entry that completes it;
    notes beyond every row come last. The order of a log bundle and of the verifier."""
    pending = iter(notes)
    note = next(pending, None)
    for row in rows:
        while note is not None and note[0] <= row[0]:
            yield note[1]
            note = next(pending, None)
        yield row
    while note is not None:
        yield note[1]
        note = next(pending, None)


def entry_from_row(row: Sequence[Any]) -> Entry:
    seq, received, prev, subject_prev, data, signature, digest = row
    return Entry(seq, received, prev, subject_prev, SignedStatement(data, signature), digest)


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_micros: int

    @property
    def created_at(self) -> datetime:
        return micros_to_datetime(self.created_micros)


class LogReader:
    """Read access to a log: entries, checkpoints, keys and proofs. Needs no key material."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @functools.cached_property
    def _entry_page(self) -> SQLCompiler:
        return _ENTRY_PAGE.compile(dialect=self.engine.dialect)

    # -- entries ---------------------------------------------------------------------------
    def size(self, conn: Connection | None = None) -> int:
        with self._conn(conn) as c:
            seq = c.execute(_LAST_SEQ).scalar()
        return 0 if seq is None else int(seq) + 1

    def entry(self, seq: int) -> Entry | None:
        with self.engine.connect() as c:
            row = c.execute(select(*ENTRY_COLUMNS).where(schema.entries.c.seq == seq)).first()
        return None if row is None else entry_from_row(row)

    def entries(self, start: int = 0, limit: int = 1000) -> list[Entry]:
        return [entry_from_row(row) for row in self.entry_rows(start, limit)]

    def entry_rows(self, start: int = 0, limit: int = 1000) -> list[EntryRow]:
        # On the driver's own cursor: making SQLAlchemy rows and then tuples of them cost the
        # verifier more than the read itself.
        params = self._entry_page.construct_params({"start": start, "limit": limit})
        with self.engine.connect() as c:
            cursor = c.connection.cursor()
            try:
                cursor.execute(
                    self._entry_page.string,
                    [params[name] for name in self._entry_page.positiontup or ()]
                    if self._entry_page.positional
                    else params,
                )
                return cast(list[EntryRow], cursor.fetchall())
            finally:
                cursor.close()

    def iter_entries(self, *, batch: int = 5000, stop: int | None = None) -> Iterator[Entry]:
        """Every entry in seq order, read in bounded pages (memory does not grow with the log)."""
        return map(entry_from_row, self.iter_entry_rows(batch=batch, stop=stop))

    def iter_entry_rows(self, *, batch: int = 5000, stop: int | None = None) -> Iterator[EntryRow]:
        """:meth:`iter_entries` as stored rows."""
        start = 0
        while stop is None or start < stop:
            page = self.entry_rows(start, batch if stop is None else min(batch, stop - start))
            yield from page
            if len(page) < batch:
                return
            start = page[-1][0] + 1

    def subject_entries(self, subject: str, *, upto: int | None = None) -> list[Entry]:
        query = select(*ENTRY_COLUMNS).where(schema.entries.c.subject == subject)
        if upto is not None:
            query = query.where(schema.entries.c.seq < upto)
        with self.engine.connect() as c:
            return [entry_from_row(r) for r in c.execute(query.order_by(schema.entries.c.seq))]

    # -- checkpoints -----------------------------------------------------------------------
    def latest_checkpoint(self, conn: Connection | None = None) -> StoredCheckpoint | None:
        with self._conn(conn) as c:
            row = c.execute(_LATEST_CHECKPOINT).first()
        return (
            None
            if row is None
            else StoredCheckpoint(row.size, bytes(row.root), row.note, row.created_micros)
        )

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        query = select(schema.checkpoints).where(schema.checkpoints.c.size == size)
        with self.engine.connect() as c:
            row = c.execute(query).first()
        return (
            None
            if row is None
            else StoredCheckpoint(row.size, bytes(row.root), row.note, row.created_micros)
        )

    def checkpoints(self, *, after: int = -1, limit: int = 1000) -> list[StoredCheckpoint]:
        query = (
            select(schema.checkpoints)
            .where(schema.checkpoints.c.size > after)
            .order_by(schema.checkpoints.c.size)
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [
                StoredCheckpoint(r.size, bytes(r.root), r.note, r.created_micros)
                for r in c.execute(query)
            ]

    def iter_checkpoints(self, *, batch: int = 5000) -> Iterator[StoredCheckpoint]:
        after = -1
        while True:
            page = self.checkpoints(after=after, limit=batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].size

    def iter_log(self, *, upto: int | None = None) -> Iterator[Entry | str]:
        """Entries in seq order, each checkpoint note right after the entry completing its size.

        Checkpoints beyond the last entry (a truncated log) come last. With ``upto``, only the
        first ``upto`` entries and the checkpoints up to that size: a snapshot that appends made
        while it is read cannot tear.
        """
        for item in self.iter_log_rows(upto=upto):
            yield item if isinstance(item, str) else entry_from_row(item)

    def iter_log_rows(self, *, upto: int | None = None) -> Iterator[EntryRow | str]:
        """:meth:`iter_log` with entries as stored rows, which the verifier takes as they are."""
        checkpoints = self.iter_checkpoints()
        if upto is not None:
            limit = upto
            checkpoints = itertools.takewhile(lambda c: c.size <= limit, checkpoints)
        return interleave_notes(
            self.iter_entry_rows(stop=upto), ((c.size, c.note) for c in checkpoints)
        )

    def key_public_keys(self) -> list[bytes]:
        """The public key of every key the log has registered (any key id can be checked
        against its key, the key id being the key's hash)."""
        with self.engine.connect() as c:
            return [bytes(k) for k in c.execute(select(schema.keys.c.public_key)).scalars()]

    # -- keys ------------------------------------------------------------------------------
    def key(self, key_id: str, conn: Connection | None = None) -> KeyRecord | None:
        with self._conn(conn) as c:
            row = c.execute(select(schema.keys).where(schema.keys.c.key_id == key_id)).first()
            if row is None:
                return None
            revoked = c.execute(
                select(schema.key_revocations.c.revoked_seq).where(
                    schema.key_revocations.c.key_id == key_id
                )
            ).scalar()
        return KeyRecord(row.key_id, row.owner, bytes(row.public_key), row.registered_seq, revoked)

    def subject_state(self, subject: str, conn: Connection | None = None) -> SubjectState | None:
        """The subject's owner and newest entry hash, or None if it has no entries."""
        with self._conn(conn) as c:
            row = c.execute(
                select(schema.subjects.c.owner).where(schema.subjects.c.subject == subject)
            ).first()
            if row is None:
                return None
            head = c.execute(
                select(schema.entries.c.entry_hash)
                .where(schema.entries.c.subject == subject)
                .order_by(schema.entries.c.seq.desc())
                .limit(1)
            ).scalar()
        return SubjectState(row.owner, ZERO_HASH if head is None else bytes(head))

    def _prefetch(
        self, conn: Connection, key_ids: set[str], subjects: set[str]
    ) -> tuple[dict[str, KeyRecord | None], dict[str, SubjectState | None]]:
        """What :meth:`key` and :meth:`subject_state` would return for each of ``key_ids`` and
        ``subjects``, read in a few queries rather than two per key and two per subject."""
        keys: dict[str, KeyRecord | None] = dict.fromkeys(key_ids)
        states: dict[str, SubjectState | None] = dict.fromkeys(subjects)
        for ids in _chunks(sorted(key_ids)):
            for row in conn.execute(_KEYS_BY_ID, {"ids": ids}):
                keys[row.key_id] = KeyRecord(
                    row.key_id,
                    row.owner,
                    bytes(row.public_key),
                    row.registered_seq,
                    row.revoked_seq,
                )
        for names in _chunks(sorted(subjects)):
            for found in conn.execute(_SUBJECTS_BY_NAME, {"names": names}):
                states[found.subject] = SubjectState(
                    found.owner, ZERO_HASH if found.head is None else bytes(found.head)
                )
        return keys, states

    def owner_keys(self, owner: str) -> list[KeyRecord]:
        with self.engine.connect() as c:
            ids = (
                c.execute(select(schema.keys.c.key_id).where(schema.keys.c.owner == owner))
                .scalars()
                .all()
            )
            return [k for k in (self.key(i, c) for i in ids) if k is not None]

    def subject_owner(self, subject: str) -> str | None:
        query = select(schema.subjects.c.owner).where(schema.subjects.c.subject == subject)
        with self.engine.connect() as c:
            return c.execute(query).scalar()

    # -- proofs ----------------------------------------------------------------------------
    def _fetch_nodes(self, conn: Connection, needed: set[NodeId]) -> dict[NodeId, bytes]:
        if not needed:
            return {}
        by_level: dict[int, list[int]] = {}
        for level, idx in sorted(needed):
            by_level.setdefault(level, []).append(idx)
        params: dict[str, Any] = {}
        for n, (level, idxs) in enumerate(by_level.items()):
            params[f"level{n}"], params[f"idx{n}"] = level, idxs
        rows = conn.execute(_nodes_query(len(by_level)), params)
        found = {(row.level, row.idx): bytes(row.hash) for row in rows}
        missing = needed - found.keys()
        if missing:
            raise LedgerError(f"Merkle nodes missing from storage: {sorted(missing)[:3]}")
        return found

    def root(self, size: int, conn: Connection | None = None) -> bytes:
        with self._conn(conn) as c:
            return CompactRange.from_nodes(
                size, self._fetch_nodes(c, set(perfect_cover(0, size)))
            ).root()

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        with self.engine.connect() as c:
            return hashes_for(
                inclusion_ranges(index, size), lambda need: self._fetch_nodes(c, need)
            )

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        if old_size == new_size:
            return []
        with self.engine.connect() as c:
            return hashes_for(
                consistency_ranges(old_size, new_size), lambda need: self._fetch_nodes(c, need)
            )

    def _check_size(self, size: int) -> None:
        if size > self.size():
            raise ValueError(f"the log has fewer than {size} entries")

    def _conn(self, conn: Connection | None) -> _Borrowed:
        return _Borrowed(conn) if conn is not None else _Borrowed(None, self.engine)


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Borrowed:
    """Use the caller's connection as is, or open (and close) one of our own."""

    def __init__(self, conn: Connection | None, engine: Engine | None = None) -> None:
        self.conn, self.engine, self.own = conn, engine, conn is None

    def __enter__(self) -> Connection:
        if self.conn is None:
            assert self.engine is not None
            self.conn = self.engine.connect()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.own and self.conn is not None:
            self.conn.close()
            self.conn = None


class Ledger(LogReader):
    """A log that appends: ``log_signer`` signs its checkpoints, ``authorities`` register keys.

    Every append transaction is serialized (a PostgreSQL advisory lock; SQLite's write lock),
    verifies each statement's signature and key, extends the hash chains and the Merkle tree,
    and signs a checkpoint covering the new size, so every committed entry is sealed.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        log_signer: NoteSigner,
        authorities: Sequence[NoteVerifier],
        clock: Callable[[], int] = now_micros,
    ) -> None:
        super().__init__(engine)
        if not authorities:
            raise ValueError("a ledger needs at least one authority key")
        self.log_signer = log_signer
        self.authorities: Mapping[str, NoteVerifier] = {a.statement_key_id: a for a in authorities}
        self.clock = clock

    @property
    def origin(self) -> str:
        return self.log_signer.name

    def append(self, statement: SignedStatement) -> Entry:
        """Append one statement; returns once the entry and its checkpoint are committed."""
        return self.append_many([statement])[0]

    def append_many(self, statements: Sequence[SignedStatement]) -> list[Entry]:
        """Append statements atomically (all or none) under one checkpoint."""
        with self.engine.execution_options(**WRITE_TRANSACTION).begin() as conn:
            return self.append_in(conn, statements)

    def append_in(self, conn: Connection, statements: Sequence[SignedStatement]) -> list[Entry]:
        """Append inside the caller's transaction; the caller's commit makes them durable.

        The transaction must have been opened with :data:`~ledger.schema.WRITE_TRANSACTION`.
        """
        if not statements:
            raise ValueError("nothing to append")
        if conn.dialect.name == "sqlite" and not conn.get_execution_options().get("ledger_write"):
            raise ValueError(
                "append_in needs a transaction begun with ledger.schema.WRITE_TRANSACTION"
            )
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": APPEND_LOCK_ID})
        size = self.size(conn)
        last = conn.execute(
            select(schema.entries.c.entry_hash).where(schema.entries.c.seq == size - 1)
        ).scalar()
        prev_hash = ZERO_HASH if last is None else bytes(last)
        tree = CompactRange.from_nodes(size, self._fetch_nodes(conn, set(perfect_cover(0, size))))
        # Parse first so that the keys and subjects the batch names are read in a few queries;
        # a statement that does not parse is parsed again, and fails, in its turn below.
        parsed_all: list[ParsedStatement | None] = []
        for statement in statements:
            try:
                parsed_all.append(statement.parse())
            except InvalidStatementError:
                parsed_all.append(None)
        keys, subjects = self._prefetch(
            conn,
            {p.key for p in parsed_all if p is not None},
            {p.subject for p in parsed_all if p is not None},
        )
        state = LogState(
            self.authorities,
            load_key=lambda key_id: keys[key_id] if key_id in keys else self.key(key_id, conn),
            load_subject=lambda subject: (
                subjects[subject] if subject in subjects else self.subject_state(subject, conn)
            ),
        )
        made: list[Entry] = []
        rows: list[dict[str, object]] = []
        node_rows: list[dict[str, object]] = []
        for statement, parsed_or_none in zip(statements, parsed_all, strict=True):
            received = self.clock()
            parsed = statement.parse() if parsed_or_none is None else parsed_or_none
            signer = state.admit(parsed, seq=size, received_micros=received)
            if not NoteVerifier("signer", signer.public_key).verify(
                statement.signature, statement.message
            ):
                raise InvalidStatementError(
                    "does not verify under the named key", field="signature"
                )
            entry = Entry.build(
                seq=size,
                received_micros=received,
                prev_hash=prev_hash,
                subject_prev_hash=state.subject_head(parsed.subject),
                statement=statement,
            )
            state.advance(parsed.subject, entry.hash)
            rows.append(
                {
                    "seq": entry.seq,
                    "received_micros": entry.received_micros,
                    "prev_hash": entry.prev_hash,
                    "subject_prev_hash": entry.subject_prev_hash,
                    "subject": parsed.subject,
                    "kind": parsed.kind,
                    "key_id": parsed.key,
                    "statement": statement.data,
                    "signature": statement.signature,
                    "entry_hash": entry.hash,
                }
            )
            node_rows.extend(
                {"level": level, "idx": idx, "hash": digest}
                for (level, idx), digest in tree.append(entry.leaf_hash)
            )
            made.append(entry)
            prev_hash, size = entry.hash, size + 1
        conn.execute(schema.entries.insert(), rows)
        conn.execute(schema.nodes.insert(), node_rows)
        self._store_state_changes(conn, state)
        self._seal(conn, size, tree.root())
        return made

    @staticmethod
    def _store_state_changes(conn: Connection, state: LogState) -> None:
        if state.new_keys:
            conn.execute(
                schema.keys.insert(),
                [
                    {
                        "key_id": k.key_id,
                        "owner": k.owner,
                        "public_key": k.public_key,
                        "registered_seq": k.registered_seq,
                    }
                    for k in state.new_keys
                ],
            )
        if state.new_revocations:
            conn.execute(
                schema.key_revocations.insert(),
                [{"key_id": k.key_id, "revoked_seq": k.revoked_seq} for k in state.new_revocations],
            )
        if state.new_subjects:
            conn.execute(
                schema.subjects.insert(),
                [{"subject": s, "owner": o, "created_seq": q} for s, o, q in state.new_subjects],
            )

    def _seal(self, conn: Connection, size: int, root: bytes) -> None:
        """Sign a checkpoint at ``size``, refusing one that is inconsistent with the last."""
        previous = self.latest_checkpoint(conn)
        if previous is not None:
            proof = hashes_for(
                consistency_ranges(previous.size, size), lambda need: self._fetch_nodes(conn, need)
            )
            try:
                verify_consistency(previous.size, size, previous.root, root, proof)
            except LedgerError as exc:
                raise ConflictError(
                    f"refusing to sign size {size}: inconsistent with checkpoint {previous.size}"
                ) from exc
        note = Checkpoint(self.origin, size, root).sign(self.log_signer)
        conn.execute(
            schema.checkpoints.insert().values(
                size=size, root=root, note=note, created_micros=self.clock()
            )
        )

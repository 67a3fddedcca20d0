"""The public audit API under /ledger: read-only views over the log for auditors and witnesses.

Everything here is public and needs no key material: checkpoints (C2SP signed notes), the log's
and the authorities' verifier keys, bounded pages of entries, RFC 6962 proofs and the whole-log
export bundle, streamed. Hashes in JSON are lowercase hex, as in the export bundle. A bad query
parameter gets a 400 whose ``errors`` name it. The formats are in docs/ledger-format.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ledger import Entry, LogReader, StoredCheckpoint
from ledger.bundle import entry_line, iter_log_bundle

from .api.schemas import Hex
from .context import goc
from .errors import DomainError, NotFound
from .extensions import csrf, openapi

MAX_PAGE = 1000
DEFAULT_PAGE = 100
PROOF_MAX_AGE = 3600  # a proof between sizes the log already has never changes
BUNDLE_MEDIA_TYPE = "application/x-ndjson"

blp = Blueprint(
    "ledger",
    __name__,
    url_prefix="/ledger",
    description="The public, read-only audit API: checkpoints, keys, entries, proofs, export.",
)


def register() -> None:
    """Register on the app ``openapi`` was initialised with (the factory calls this)."""
    csrf.exempt(blp)
    openapi.register_blueprint(blp)


def _text(description: str, media_type: str = "text/plain") -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    }


def _bad(field: str, message: str) -> DomainError:
    return DomainError(f"{field}: {message}", errors={field: [message]})


def _reader() -> LogReader:
    return goc().ledger


# Query strings (flask-smorest answers a malformed one with 400 and the field's messages)

ARGUMENT_ERROR = 400
# Sizes and seqs are 64-bit in the database: anything near that is a 400, never a query.
MAX_SIZE = 2**62  # headroom below SQLite's 2**63 - 1 for start + limit
_COUNT = validate.Range(min=0, max=MAX_SIZE)
_SIZE = validate.Range(min=1, max=MAX_SIZE)
_PAGE = validate.Range(min=1, max=MAX_PAGE)


class CheckpointsQuery(Schema):
    after = fields.Integer(
        load_default=None,
        validate=_COUNT,
        metadata={"description": "Only checkpoints of a larger tree size than this."},
    )
    limit = fields.Integer(
        load_default=DEFAULT_PAGE,
        validate=_PAGE,
        metadata={"description": f"At most this many (1 to {MAX_PAGE})."},
    )


class EntriesQuery(Schema):
    start = fields.Integer(
        load_default=0, validate=_COUNT, metadata={"description": "The first sequence number."}
    )
    limit = fields.Integer(
        load_default=DEFAULT_PAGE,
        validate=_PAGE,
        metadata={"description": f"At most this many entries (1 to {MAX_PAGE})."},
    )


class InclusionQuery(Schema):
    index = fields.Integer(
        required=True, validate=_COUNT, metadata={"description": "The entry's sequence number."}
    )
    size = fields.Integer(
        required=True,
        validate=_SIZE,
        metadata={"description": "The tree size (a checkpoint's) to prove inclusion in."},
    )


class ConsistencyQuery(Schema):
    from_ = fields.Integer(
        data_key="from",
        required=True,
        validate=_SIZE,
        metadata={"description": "The older tree size."},
    )
    to = fields.Integer(required=True, validate=_SIZE, metadata={"description": "The newer size."})


# Responses


class CheckpointOut(Schema):
    size = fields.Integer(required=True)
    root = Hex(required=True, metadata={"description": "RFC 6962 root hash, hex."})
    note = fields.String(required=True, metadata={"description": "The C2SP signed checkpoint."})
    created_at = fields.AwareDateTime(required=True)


class CheckpointPage(Schema):
    checkpoints = fields.List(fields.Nested(CheckpointOut), required=True)
    next_after = fields.Integer(
        allow_none=True,
        metadata={"description": "Pass as `after` for the next page; null on the last page."},
    )


class EntryOut(Schema):
    """An entry line of the export bundle (docs/ledger-format.md, "Export bundle")."""

    type = fields.String(required=True)
    seq = fields.Integer(required=True)
    received = fields.Integer(required=True, metadata={"description": "Microseconds, UTC."})
    prev = fields.String(required=True)
    subject_prev = fields.String(required=True)
    statement = fields.String(required=True, metadata={"description": "Base64 statement bytes."})
    signature = fields.String(required=True, metadata={"description": "Base64 Ed25519."})
    hash = fields.String(required=True)


class EntryPage(Schema):
    entries = fields.List(fields.Nested(EntryOut), required=True)
    next_start = fields.Integer(
        allow_none=True,
        metadata={"description": "Pass as `start` for the next page; null at the log's end."},
    )


class InclusionOut(Schema):
    index = fields.Integer(required=True)
    size = fields.Integer(required=True)
    leaf_hash = Hex(required=True, metadata={"description": "SHA-256(0x00 || entry hash)."})
    root = Hex(required=True, metadata={"description": "The root at `size`."})
    proof = fields.List(Hex(), required=True, metadata={"description": "Leaf sibling first."})


class ConsistencyOut(Schema):
    from_ = fields.Integer(data_key="from", required=True)
    to = fields.Integer(required=True)
    proof = fields.List(Hex(), required=True)


class AuthorityKeysOut(Schema):
    keys = fields.List(
        fields.String(), required=True, metadata={"description": "C2SP verifier keys."}
    )


# Views


@blp.route("/checkpoint")
@blp.doc(responses=_text("The latest checkpoint, a C2SP signed note."))
@blp.alt_response(404, response="NOT_FOUND")
def checkpoint() -> Response:
    """The latest checkpoint (C2SP tlog-checkpoint signed note)"""
    latest = _reader().latest_checkpoint()
    if latest is None:
        raise NotFound("The log has no checkpoint yet.")
    response = Response(latest.note, mimetype="text/plain")
    response.cache_control.no_cache = True
    return response


@blp.route("/key")
@blp.doc(responses=_text("The log's C2SP verifier key (name+id+key)."))
def key() -> Response:
    """The log's verifier key, for checking checkpoint signatures"""
    return Response(goc().ledger.log_signer.verifier.vkey() + "\n", mimetype="text/plain")


@blp.route("/authority-keys")
@blp.response(200, AuthorityKeysOut)
def authority_keys() -> dict[str, list[str]]:
    """The co-op authority keys that register and revoke household keys"""
    return {"keys": [k.vkey() for k in goc().ledger.authorities.values()]}


@blp.route("/checkpoints")
@blp.arguments(CheckpointsQuery, location="query", error_status_code=ARGUMENT_ERROR)
@blp.response(200, CheckpointPage)
def checkpoints(query: dict[str, Any]) -> dict[str, Any]:
    """Signed checkpoints in increasing tree size, a bounded page at a time"""
    after = -1 if query["after"] is None else query["after"]
    page: list[StoredCheckpoint] = _reader().checkpoints(after=after, limit=query["limit"])
    full = len(page) == query["limit"]
    return {"checkpoints": page, "next_after": page[-1].size if full else None}


@blp.route("/entries")
@blp.arguments(EntriesQuery, location="query", error_status_code=ARGUMENT_ERROR)
@blp.response(200, EntryPage)
def entries(query: dict[str, Any]) -> dict[str, Any]:
    """Log entries in sequence order, a bounded page at a time"""
    page: list[Entry] = _reader().entries(query["start"], query["limit"])
    full = len(page) == query["limit"]
    return {
        "entries": [entry_line(e) for e in page],
        "next_start": page[-1].seq + 1 if full else None,
    }


@blp.route("/proof/inclusion")
@blp.arguments(InclusionQuery, location="query", error_status_code=ARGUMENT_ERROR)
@blp.response(200, InclusionOut)
def inclusion(query: dict[str, Any]) -> Response:
    """An RFC 6962 inclusion proof of entry `index` in the tree of size `size`"""
    index, size = query["index"], query["size"]
    reader = _reader()
    _within_log(reader, "size", size)
    if index >= size:
        raise _bad("index", f"must be less than size ({size})")
    entry = reader.entry(index)
    assert entry is not None  # index < size <= the log's size
    body = {
        "index": index,
        "size": size,
        "leaf_hash": entry.leaf_hash,
        "root": reader.root(size),
        "proof": reader.inclusion_proof(index, size),
    }
    return _immutable(InclusionOut().dump(body))


@blp.route("/proof/consistency")
@blp.arguments(ConsistencyQuery, location="query", error_status_code=ARGUMENT_ERROR)
@blp.response(200, ConsistencyOut)
def consistency(query: dict[str, Any]) -> Response:
    """An RFC 6962 consistency proof from tree size `from` to tree size `to`"""
    old, new = query["from_"], query["to"]
    reader = _reader()
    _within_log(reader, "to", new)
    if old > new:
        raise _bad("from", f"must not be larger than to ({new})")
    body = {"from_": old, "to": new, "proof": reader.consistency_proof(old, new)}
    return _immutable(ConsistencyOut().dump(body))


@blp.route("/export")
@blp.doc(responses=_text("The whole-log export bundle, JSON Lines.", BUNDLE_MEDIA_TYPE))
@blp.alt_response(404, response="NOT_FOUND")
def export() -> Response:
    """The whole log as an export bundle (JSON Lines), streamed, up to the latest checkpoint"""
    reader = _reader()
    latest = reader.latest_checkpoint()
    if latest is None:
        raise NotFound("The log has no checkpoint yet.")
    origin = goc().ledger.origin
    # Cut at the checkpoint read now: appends made while the bundle streams cannot tear it.
    lines: Iterator[str] = iter_log_bundle(reader, origin, upto=latest.size)
    response = Response(lines, mimetype=BUNDLE_MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="ledger-{latest.size}.jsonl"'
    return response


def _within_log(reader: LogReader, field: str, size: int) -> None:
    available = reader.size()
    if size > available:
        raise _bad(field, f"must not be larger than the log's size ({available})")


def _immutable(body: Any) -> Response:
    response = jsonify(body)
    response.cache_control.public = True
    response.cache_control.max_age = PROOF_MAX_AGE
    return response

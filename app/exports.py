"""CSV exports of recorded steps, for the co-op's spreadsheets: one household's, or the hamlet's.

UTF-8 with a byte-order mark, so that Excel opens Vietnamese text correctly; one row per step or
correction, in ledger order within each batch, with the ledger sequence number and entry hash
so every row can be checked against the public log. Streamed: the hamlet's export is read in
pages, not held in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context
from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from .household import localtime
from .household.queries import CORRECTION, shown_fields
from .models import Batch, Household, Step
from .steps import STEP_TYPES

BOM = "\ufeff"
FLUSH_AT = 64 * 1024  # characters buffered before a chunk is sent
PAGE = 500
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): a household's
# note "=HYPERLINK(...)" must stay text, so such cells get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _columns() -> list[str]:
    return [
        _("Household code"),
        _("Head of household"),
        _("Batch code"),
        _("Product"),
        _("Variety"),
        _("Plot"),
        _("Lot"),
        _("GTIN"),
        _("Step"),
        _("When"),
        _("Details"),
        _("Note"),
        _("Corrects entry"),
        _("Ledger entry"),
        _("Entry hash"),
    ]


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _details(step: Step, unit: str) -> tuple[str, str, str]:
    """Step label, its fields as "label: value; ...", and its note."""
    if step.kind == CORRECTION:
        rows = [f"{_('Reason')}: {step.data.get('reason', '')}"]
        replacement = step.data.get("replacement")
        original = step.corrects
        if replacement is not None and original is not None:
            shown = shown_fields(original.kind, replacement, unit)
            rows += [f"{label}: {text}" for name, (label, text) in shown.items() if name != "note"]
        note = replacement.get("note", "") if replacement else ""
        return _("Correction"), "; ".join(rows), note
    shown = shown_fields(step.kind, step.data, unit)
    rows = [f"{label}: {text}" for name, (label, text) in shown.items() if name != "note"]
    return str(STEP_TYPES[step.kind].label), "; ".join(rows), step.data.get("note", "")


def _row(step: Step) -> list[Any]:
    batch: Batch = step.batch
    household: Household = batch.household
    label, details, note = _details(step, batch.unit)
    return [
        household.code,
        household.head_name,
        batch.code,
        batch.product,
        batch.variety,
        batch.plot,
        batch.lot,
        batch.gtin or "",
        label,
        localtime.display(step.occurred_at),
        details,
        note,
        step.corrects.seq if step.corrects is not None else "",
        step.seq,
        step.entry_hash.hex(),
    ]


def _steps(household: Household | None) -> Select[tuple[Step]]:
    query = (
        select(Step)
        .join(Batch, Batch.id == Step.batch_id)
        .options(joinedload(Step.batch).joinedload(Batch.household), joinedload(Step.corrects))
        .order_by(Batch.household_id, Batch.id, Step.seq)
    )
    return query if household is None else query.where(Batch.household_id == household.id)


def steps_csv(session: Session, household: Household | None = None) -> Iterator[str]:
    """The CSV text, in chunks: ``household``'s steps, or every household's when None."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(_columns())
    for step in session.scalars(_steps(household).execution_options(yield_per=PAGE)):
        writer.writerow([_safe(v) for v in _row(step)])
        if buffer.tell() >= FLUSH_AT:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(chunks: Iterator[str], filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.mimetype_params["charset"] = "utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.cache_control.no_store = True  # private data: names, plots, notes
    return response

"""What the public pages read and show: lookups by code or GS1 Digital Link, public URLs, the
Circular 02/2024/TT-BKHCN minimum items. Only public fields of a household ever leave here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.context import Goc
from app.errors import DomainError, NotFound
from app.household import localtime
from app.household.forms import PUBLIC_PROFILE_FIELDS
from app.household.queries import TimelineItem, timeline
from app.models import Batch, Household, Step
from app.steps import gtin14

from .verification import BatchReport, checks_cache, trust_roots, verify_batch

HOUSEHOLD_BATCHES = 50  # the newest batches listed on a household's page


class UnknownCode(NotFound):
    """No public batch or household under that code (the storefront's friendly 404)."""


class BadParameter(DomainError):
    """A query string parameter of a public page is invalid (400, naming the parameter)."""


def batch_by_code(session: Session, code: str) -> Batch:
    batch = session.scalar(select(Batch).where(Batch.code == code))
    if batch is None:
        raise UnknownCode(_("We could not find a batch with the code %(code)s.", code=code))
    return batch


def batch_by_digital_link(session: Session, gtin: str, lot: str) -> Batch:
    """The batch of a GS1 Digital Link: GTIN-8/12/13/14 (padded to 14 digits) and lot."""
    missing = UnknownCode(_("We could not find a batch with the code %(code)s.", code=lot))
    try:
        padded = gtin14(gtin)
    except ValidationError:
        raise missing from None
    batch = session.scalar(select(Batch).where(Batch.gtin == padded, Batch.lot == lot))
    if batch is None:
        raise missing
    return batch


def household_by_code(session: Session, code: str) -> Household:
    household = session.scalar(select(Household).where(Household.code == code))
    if household is None:
        raise UnknownCode(_("We could not find a household with the code %(code)s.", code=code))
    return household


# -- public URLs (absolute, on PUBLIC_BASE_URL) -------------------------------------------------
def batch_url(goc: Goc, batch: Batch) -> str:
    """The URL a batch's QR code carries: its GS1 Digital Link when it has a GTIN."""
    base = goc.settings.public_base_url
    if batch.gtin:
        return f"{base}/01/{batch.gtin}/10/{quote(batch.lot, safe='')}"
    return f"{base}/b/{quote(batch.code, safe='')}"


def household_url(goc: Goc, household: Household) -> str:
    return f"{goc.settings.public_base_url}/h/{quote(household.code, safe='')}"


def public_profile(household: Household) -> list[tuple[Any, str]]:
    """Label and value of the household's filled-in public fields (never phone or bank)."""
    profile = household.public_profile()
    return [(f.label, profile[f.name]) for f in PUBLIC_PROFILE_FIELDS if profile[f.name]]


# -- Circular 02/2024/TT-BKHCN --------------------------------------------------------------
@dataclass(frozen=True)
class MinimumItem:
    number: int
    label: Any
    present: bool
    value: str = ""


def minimum_items(batch: Batch, steps: list[Step]) -> list[MinimumItem]:
    """The ten minimum items of Circular 02/2024/TT-BKHCN and whether this page shows each."""
    household = batch.household
    address = ", ".join(p for p in (household.hamlet, household.commune, household.province) if p)
    recorded = [s for s in steps if s.kind != "correct"]
    photos = sum(len(s.photos) for s in recorded)
    times = sorted(s.occurred_at for s in recorded)
    span = (
        f"{localtime.display(times[0])} – {localtime.display(times[-1])}"
        if times
        else batch.start_date.strftime("%d/%m/%Y")
    )
    gtin = f"GTIN {batch.gtin}" if batch.gtin else ""
    codes = f"{batch.code} · {_('Lot')} {batch.lot}"
    standards = household.certificates or ", ".join(
        sorted({str(s.data.get("inspector", "")) for s in recorded if s.kind == "inspection"})
    )
    return [
        MinimumItem(1, _l("Product name"), True, batch.product),
        MinimumItem(2, _l("Product images"), photos > 0, str(photos) if photos else ""),
        MinimumItem(3, _l("Producer"), True, household.head_name),
        MinimumItem(4, _l("Producer's address"), bool(address), address),
        MinimumItem(5, _l("Production stages"), bool(recorded), str(len(recorded))),
        MinimumItem(6, _l("Production time"), True, span),
        MinimumItem(7, _l("Traceability codes"), True, codes),
        MinimumItem(8, _l("Brand, code or serial number (if any)"), bool(gtin), gtin),
        MinimumItem(9, _l("Shelf life or expiry (if any)"), False),
        MinimumItem(10, _l("Standards applied"), bool(standards), standards),
    ]


@dataclass(frozen=True)
class BatchPage:
    batch: Batch
    household: Household
    profile: list[tuple[Any, str]]
    items: list[TimelineItem]
    page: int
    more: bool
    report: BatchReport
    minimum: list[MinimumItem]
    public_url: str


def batch_page(session: Session, goc: Goc, batch: Batch, page: int) -> BatchPage:
    items, more = timeline(session, batch, page)
    steps = list(session.scalars(select(Step).where(Step.batch_id == batch.id)))
    report = verify_batch(goc.ledger, trust_roots(goc.ledger), batch, steps, checks_cache())
    return BatchPage(
        batch=batch,
        household=batch.household,
        profile=public_profile(batch.household),
        items=items,
        page=page,
        more=more,
        report=report,
        minimum=minimum_items(batch, steps),
        public_url=batch_url(goc, batch),
    )


def household_batches(session: Session, household: Household) -> list[Batch]:
    return list(
        session.scalars(
            select(Batch)
            .where(Batch.household_id == household.id)
            .order_by(Batch.id.desc())
            .limit(HOUSEHOLD_BATCHES)
        )
    )

"""The marketplace home: batches across the hamlet, newest first, searchable in Vietnamese with
or without diacritics and filterable by product and commune.

The search matches the accent-folded keys stored on batches and households (``search_text``,
kept by the services that write those rows), so it is a plain ``LIKE`` per word and behaves the
same on SQLite and PostgreSQL. Every word must appear in the batch's or its household's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from app.household.localtime import to_local
from app.models import Batch, Household, Photo, Step, StepPhoto
from app.search import fold

from .pages import BadParameter

LISTINGS_PER_PAGE = 20
MAX_QUERY = 100  # characters of the search box
MAX_WORDS = 8
MAX_CHOICE = 120  # a product or commune name (their column length)
HARVEST = "harvest"


@dataclass(frozen=True)
class MarketFilters:
    query: str = ""
    product: str = ""
    commune: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> MarketFilters:
        """The filters of a query string; too long a value is a BadParameter naming it."""
        values = {name: args.get(name, "").strip() for name in ("q", "product", "commune")}
        limits = {"q": MAX_QUERY, "product": MAX_CHOICE, "commune": MAX_CHOICE}
        errors = {
            name: [_("Use at most %(n)d characters.", n=limits[name])]
            for name, value in values.items()
            if len(value) > limits[name]
        }
        if errors:
            raise BadParameter(_("Please shorten your search."), errors=errors)
        return cls(values["q"], values["product"], values["commune"])

    @property
    def params(self) -> dict[str, str]:
        """The query string that gives these filters back (empty ones left out)."""
        values = {"q": self.query, "product": self.product, "commune": self.commune}
        return {name: value for name, value in values.items() if value}

    @property
    def words(self) -> list[str]:
        return fold(self.query).split()[:MAX_WORDS]

    @property
    def active(self) -> bool:
        return bool(self.params)


@dataclass(frozen=True)
class Listing:
    """One batch on the marketplace, with what a buyer scans the list for."""

    batch: Batch
    household: Household
    harvested_at: datetime | None  # the latest harvest, None while still growing
    thumb: str | None  # SHA-256 of a thumbnail of the batch's latest photo

    @property
    def harvested_on(self) -> str:
        return to_local(self.harvested_at).strftime("%d/%m/%Y") if self.harvested_at else ""


@dataclass(frozen=True)
class MarketPage:
    listings: list[Listing]
    page: int
    more: bool
    products: list[str]
    communes: list[str]


def _filtered(filters: MarketFilters) -> Select[tuple[Batch]]:
    statement = select(Batch).join(Household, Household.id == Batch.household_id)
    for word in filters.words:
        statement = statement.where(
            or_(
                Batch.search_text.contains(word, autoescape=True),
                Household.search_text.contains(word, autoescape=True),
            )
        )
    if filters.product:
        statement = statement.where(Batch.product == filters.product)
    if filters.commune:
        statement = statement.where(Household.commune == filters.commune)
    return statement


def _latest_harvests(session: Session, batch_ids: list[int]) -> dict[int, datetime]:
    rows = session.execute(
        select(Step.batch_id, func.max(Step.occurred_at))
        .where(Step.batch_id.in_(batch_ids), Step.kind == HARVEST)
        .group_by(Step.batch_id)
    )
    return {batch_id: when for batch_id, when in rows}


def _thumbs(session: Session, batch_ids: list[int]) -> dict[int, str]:
    rows = session.execute(
        select(Step.batch_id, Photo.thumb_sha256)
        .join(StepPhoto, StepPhoto.step_id == Step.id)
        .join(Photo, Photo.sha256 == StepPhoto.photo_sha256)
        .where(Step.batch_id.in_(batch_ids))
        .order_by(Step.seq.desc(), StepPhoto.position)
    )
    thumbs: dict[int, str] = {}
    for batch_id, thumb in rows:
        thumbs.setdefault(batch_id, thumb)
    return thumbs


def market_page(session: Session, filters: MarketFilters, page: int) -> MarketPage:
    """One page of the batches matching ``filters``, newest first, and the filter choices."""
    batches = list(
        session.scalars(
            _filtered(filters)
            .options(contains_eager(Batch.household))
            .order_by(Batch.id.desc())
            .offset((page - 1) * LISTINGS_PER_PAGE)
            .limit(LISTINGS_PER_PAGE + 1)
        )
    )
    shown = batches[:LISTINGS_PER_PAGE]
    ids = [b.id for b in shown]
    harvests = _latest_harvests(session, ids) if ids else {}
    thumbs = _thumbs(session, ids) if ids else {}
    return MarketPage(
        listings=[Listing(b, b.household, harvests.get(b.id), thumbs.get(b.id)) for b in shown],
        page=page,
        more=len(batches) > LISTINGS_PER_PAGE,
        products=_choices(session, select(Batch.product)),
        communes=_choices(
            session,
            select(Household.commune)
            .join(Batch, Batch.household_id == Household.id)
            .where(Household.commune != ""),
        ),
    )


def _choices(session: Session, column: Select[tuple[str]]) -> list[str]:
    """Distinct values in Vietnamese alphabetical order (the same on every database engine)."""
    return sorted(session.scalars(column.distinct()), key=lambda value: (fold(value), value))

"""Read-only summaries of the hamlet for the co-op's digital team: households and indicators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, selectinload

from ..models import Batch, Household, Step
from ..models._types import utcnow

ACTIVE_WINDOW = timedelta(days=30)
CORRECTION = "correct"


@dataclass(frozen=True)
class Share:
    """``count`` out of ``total``, with its percentage rounded half up (0 when there is none)."""

    count: int
    total: int

    @property
    def percent(self) -> int:
        if self.total <= 0:
            return 0
        return (200 * self.count + self.total) // (2 * self.total)


@dataclass(frozen=True)
class Indicators:
    households: int
    batches: int
    steps: int
    active: Share  # households that logged a step in the last 30 days
    payout: Share  # households with a payout account (bank BIN, account number and name)


@dataclass(frozen=True)
class BatchSummary:
    batch: Batch
    steps: int


@dataclass(frozen=True)
class HouseholdSummary:
    household: Household
    batches: list[BatchSummary]
    last_logged_at: datetime | None

    @property
    def steps(self) -> int:
        return sum(b.steps for b in self.batches)


def _step_counts(session: Session) -> dict[int, int]:
    """Production steps per batch id (corrections are not steps of their own)."""
    rows = session.execute(
        select(Step.batch_id, func.count()).where(Step.kind != CORRECTION).group_by(Step.batch_id)
    )
    return {batch_id: count for batch_id, count in rows}


def _last_logged(session: Session) -> dict[int, datetime]:
    """When each household last recorded anything on a batch (a step or a correction)."""
    rows = session.execute(
        select(Batch.household_id, func.max(Step.created_at))
        .join(Step, Step.batch_id == Batch.id)
        .group_by(Batch.household_id)
    )
    return {household_id: at for household_id, at in rows if at is not None}


def household_summaries(session: Session) -> list[HouseholdSummary]:
    """Every household, by name, with its batches (newest first), step counts and keys."""
    households = session.scalars(
        select(Household)
        .options(selectinload(Household.batches), selectinload(Household.keys))
        .order_by(Household.head_name, Household.id)
    ).all()
    counts = _step_counts(session)
    last = _last_logged(session)
    return [
        HouseholdSummary(
            household=h,
            batches=[BatchSummary(b, counts.get(b.id, 0)) for b in h.batches],
            last_logged_at=last.get(h.id),
        )
        for h in households
    ]


def indicators(session: Session, *, now: datetime | None = None) -> Indicators:
    """The hamlet's digital indicators.

    Activity counts when a step was *recorded* (``Step.created_at``, the server's clock), not
    the back-datable time it says it happened: the indicator measures use of the tool. ``now``
    gives the indicators as they stood at another moment.
    """
    now = now or utcnow()
    since = now - ACTIVE_WINDOW
    total = session.scalar(select(func.count()).select_from(Household)) or 0
    active = session.scalar(
        select(func.count(distinct(Batch.household_id)))
        .join(Step, Step.batch_id == Batch.id)
        .where(Step.created_at >= since, Step.created_at <= now)
    )
    payout = session.scalar(
        select(func.count())
        .select_from(Household)
        .where(
            Household.bank_bin != "",
            Household.bank_account != "",
            Household.bank_account_name != "",
        )
    )
    return Indicators(
        households=total,
        batches=session.scalar(select(func.count()).select_from(Batch)) or 0,
        steps=session.scalar(select(func.count()).select_from(Step).where(Step.kind != CORRECTION))
        or 0,
        active=Share(active or 0, total),
        payout=Share(payout or 0, total),
    )

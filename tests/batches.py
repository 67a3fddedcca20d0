"""Batches with steps recorded through the services, for tests that read them back."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.context import goc
from app.extensions import db
from app.models import Batch, User
from app.services import batches as service
from app.services.households import normalise_phone

START = date.today() - timedelta(days=30)


def household_user(phone: str) -> User:
    user = db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))
    assert user is not None
    return user


def batch_with_steps(phone: str, steps: list[tuple[str, dict[str, Any]]], **fields: Any) -> str:
    """Create a batch of the household logging in with ``phone``, record ``steps`` (kind, data)
    in order, and return the batch code. Runs inside an app context."""
    user = household_user(phone)
    data = {
        "product": "Bưởi Phúc Trạch",
        "variety": "Phúc Trạch",
        "plot": "Thửa 12, xứ Đồng Cừa",
        "unit": "kg",
        "start_date": START.isoformat(),
        **fields,
    }
    batch = service.create_batch(db.session, goc(), actor=user, data=data)
    for kind, values in steps:
        batch = db.session.get(Batch, batch.id)
        assert batch is not None
        service.record_step(db.session, goc(), actor=user, batch=batch, kind=kind, data=values)
    return batch.code

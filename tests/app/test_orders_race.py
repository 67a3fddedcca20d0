"""Never oversold: 50 buyers at once for 10 units on PostgreSQL reserve exactly 10."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from app.context import goc
from app.errors import Conflict
from app.extensions import db
from app.models import Batch, Offer, Order
from app.services.orders import place_order
from tests.conftest import BACKENDS
from tests.orders_support import batch_on_sale

BUYERS = 50
UNITS = 10


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_fifty_concurrent_buyers_reserve_exactly_ten_units(app: Any) -> None:
    code = batch_on_sale(app, available=UNITS)
    start = threading.Barrier(BUYERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy(n: int) -> None:
        data = {
            "batch": code,
            "quantity": 1,
            "buyer_name": f"Buyer {n}",
            "buyer_phone": "0987654321",
        }
        with app.app_context():
            start.wait()
            try:
                place_order(db.session, goc().settings, data=data, address=f"192.0.2.{n}")
                outcome = "reserved"
            except Conflict:
                outcome = "sold out"
            finally:
                db.session.remove()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == BUYERS
    assert outcomes.count("reserved") == UNITS
    with app.app_context():
        batch = db.session.scalar(select(Batch).where(Batch.code == code))
        assert batch is not None
        orders = db.session.scalar(
            select(func.sum(Order.quantity)).where(Order.batch_id == batch.id)
        )
        assert orders == UNITS
        offer = db.session.get(Offer, batch.id)
        assert offer is not None and offer.available == 0


# PostgreSQL only (its row locks are what is tested); like every PostgreSQL variant, not
# collected when TEST_DATABASE_URL is set empty.
test_fifty_concurrent_buyers_reserve_exactly_ten_units.__test__ = "postgresql" in BACKENDS  # type: ignore[attr-defined]

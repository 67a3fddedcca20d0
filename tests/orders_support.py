"""Helpers for the order and payment tests: a batch on sale, orders, SePay deliveries."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.context import goc
from app.extensions import db
from app.models import Order, User
from app.services.batches import create_batch, record_step
from app.services.households import normalise_phone, update_profile
from app.services.orders import PlacedOrder, place_order, set_offer
from tests.support import HOUSEHOLD_PHONES, WEBHOOK_KEY

BANK_BIN = "970405"  # Agribank
ACCOUNT = "3704205123456"
HOLDER = "NGUYEN VAN AN"
PRICE = 45_000


def member(phone: str = HOUSEHOLD_PHONES[0]) -> User:
    user = db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))
    assert user is not None
    return user


def batch_on_sale(app: Any, *, available: int = 10, price: int = PRICE) -> str:
    """Household A, with a payout account, sells a harvested batch of pomelos."""
    with app.app_context():
        user = member()
        update_profile(
            db.session,
            goc(),
            actor=user,
            household=user.household,
            public={},
            private={"bank_bin": BANK_BIN, "bank_account": ACCOUNT, "bank_account_name": HOLDER},
        )
        start = (date.today() - timedelta(days=60)).isoformat()
        data = {"product": "Bưởi Phúc Trạch", "unit": "quả", "start_date": start}
        batch = create_batch(db.session, goc(), actor=user, data=data)
        record_step(
            db.session, goc(), actor=user, batch=batch, kind="harvest", data={"quantity": "100"}
        )
        set_offer(
            db.session,
            actor=user,
            batch=batch,
            data={"price_vnd": price, "available": available, "on_sale": True},
        )
        return batch.code


def order(app: Any, code: str, quantity: int = 1, address: str = "198.51.100.7") -> PlacedOrder:
    with app.app_context():
        data = {
            "batch": code,
            "quantity": quantity,
            "buyer_name": "Lê Thị Hoa",
            "buyer_phone": "0987 654 321",
        }
        placed = place_order(db.session, goc().settings, data=data, address=address)
        db.session.refresh(placed.order)
        db.session.expunge_all()
        return placed


def reload(app: Any, code: str) -> Order:
    with app.app_context():
        found = db.session.scalar(select(Order).where(Order.code == code))
        assert found is not None
        db.session.refresh(found)
        db.session.expunge_all()
        return found


def sepay_body(txn: int, content: str, amount: int, account: str = ACCOUNT, **extra: Any) -> dict:
    return {
        "id": txn,
        "gateway": "Agribank",
        "transactionDate": "2026-12-02 10:02:37",
        "accountNumber": account,
        "code": None,
        "content": content,
        "transferType": "in",
        "transferAmount": amount,
        "accumulated": 19_077_000,
        "subAccount": None,
        "referenceCode": "MBVCB.3278907687",
        "description": "",
        **extra,
    }


def deliver(client: Any, body: Any, *, key: str | None = WEBHOOK_KEY, **headers: str) -> Any:
    """POST a SePay webhook through the test client (a dict is sent as JSON)."""
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    if key is not None:
        headers["Authorization"] = f"Apikey {key}"
    return client.post(
        "/payments/webhook/sepay",
        data=data,
        headers={"Content-Type": "application/json", **headers},
    )

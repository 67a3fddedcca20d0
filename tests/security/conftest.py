"""A hamlet with something in it, for the security tests: household A owns a batch (with a GTIN),
a photographed step and a correction, a batch on sale with a buyer's order, and an unmatched
transfer in its inbox; household B has a batch of its own; the co-op admin.
Each role gets a logged-in web client and an API token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Household, Payment, Step, User
from app.services.households import normalise_phone
from tests.app.test_api import BATCH, HARVEST, bearer, post_multipart, token_for
from tests.orders_support import batch_on_sale, deliver, order, sepay_body
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, jpeg_bytes, login

ROLES = ("anonymous", "household_a", "household_b", "admin")


def gtin13(prefix: str) -> str:
    """``prefix`` (12 digits) with its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(prefix))
    return prefix + str((10 - total % 10) % 10)


@dataclass
class World:
    app: Any
    clients: dict[str, Any]  # web clients by role, logged in (anonymous: not)
    tokens: dict[str, str]  # API tokens by role ("" for anonymous)
    batch: str  # household A's batch code
    other_batch: str  # household B's batch code
    household: str  # household A's code
    gtin: str
    lot: str
    step_id: int  # A's harvest step (database id)
    step_seq: int  # ... and its ledger seq
    photo: str  # the step photo's SHA-256
    order_code: str  # a buyer's order of household A's batch on sale
    order_token: str  # ... and the buyer's secret link token
    payment_id: int  # an unmatched transfer in household A's inbox

    def api_headers(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role]) if self.tokens[role] else {}


@pytest.fixture
def world(app: Any) -> World:
    api = app.test_client()
    tokens = {
        "anonymous": "",
        "household_a": token_for(app, HOUSEHOLD_PHONES[0]),
        "household_b": token_for(app, HOUSEHOLD_PHONES[1]),
        "admin": token_for(app, ADMIN_PHONE),
    }
    gtin = gtin13("893456789012")
    made = api.post("/api/v1/batches", json={**BATCH, "gtin": gtin, "lot": "L-01"},
                    headers=bearer(tokens["household_a"]))  # fmt: skip
    assert made.status_code == 201, made.get_json()
    batch = made.get_json()
    other = api.post("/api/v1/batches", json=BATCH, headers=bearer(tokens["household_b"]))
    steps = f"/api/v1/batches/{batch['code']}/steps"
    step = post_multipart(api, steps, tokens["household_a"], HARVEST, [jpeg_bytes()]).get_json()
    fix = api.post(f"/api/v1/steps/{step['seq']}/corrections", json={"reason": "Cân lại"},
                   headers=bearer(tokens["household_a"]))  # fmt: skip
    assert fix.status_code == 201, fix.get_json()
    with app.app_context():
        user = db.session.scalar(
            select(User).where(User.phone == normalise_phone(HOUSEHOLD_PHONES[0]))
        )
        household = db.session.get(Household, user.household_id).code
        step_id = db.session.scalar(select(Step.id).where(Step.seq == step["seq"]))
    placed = order(app, batch_on_sale(app))
    unmatched = deliver(api, sepay_body(1, "chuyen tien", 10_000))
    assert unmatched.status_code == 200, unmatched.get_json()
    with app.app_context():
        payment_id = db.session.scalar(select(Payment.id).where(Payment.order_id.is_(None)))
    clients = {"anonymous": app.test_client()}
    for role, phone in (("household_a", HOUSEHOLD_PHONES[0]), ("household_b", HOUSEHOLD_PHONES[1]),
                        ("admin", ADMIN_PHONE)):  # fmt: skip
        clients[role] = app.test_client()
        assert login(clients[role], phone).status_code == 302
    return World(
        app=app,
        clients=clients,
        tokens=tokens,
        batch=batch["code"],
        other_batch=other.get_json()["code"],
        household=household,
        gtin=gtin.zfill(14),
        lot="L-01",
        step_id=step_id,
        step_seq=step["seq"],
        photo=step["photos"][0]["sha256"],
        order_code=placed.order.code,
        order_token=placed.token,
        payment_id=payment_id,
    )

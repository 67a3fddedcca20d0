"""Offers and orders: reserving stock, expiry, the API, the buyer's pages, the sale statement."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import select

from app.context import goc
from app.errors import Conflict, Forbidden, TooManyRequests, ValidationFailed
from app.extensions import db
from app.models import Batch, Offer, OrderStatus
from app.models._types import utcnow
from app.services import orders as service
from app.services.payments import codes_in
from tests.orders_support import (
    ACCOUNT,
    HOLDER,
    PRICE,
    batch_on_sale,
    deliver,
    member,
    order,
    reload,
    sepay_body,
)
from tests.support import HOUSEHOLD_PHONES


def available(app: Any, code: str) -> int:
    with app.app_context():
        batch = db.session.scalar(select(Batch).where(Batch.code == code))
        assert batch is not None
        offer = db.session.get(Offer, batch.id)
        assert offer is not None
        return offer.available


class TestReserving:
    def test_an_order_reserves_units_and_prices_them(self, app: Any) -> None:
        code = batch_on_sale(app, available=10)
        placed = order(app, code, quantity=4)
        assert placed.order.amount_vnd == 4 * PRICE
        assert placed.order.status is OrderStatus.PENDING
        assert re.fullmatch(r"GOC[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}", placed.order.code)
        assert len(placed.token) >= 32 and placed.token not in placed.order.token_hash
        assert available(app, code) == 6

    def test_more_than_is_left_is_refused_and_changes_nothing(self, app: Any) -> None:
        code = batch_on_sale(app, available=3)
        order(app, code, quantity=2)
        with pytest.raises(Conflict) as refused:
            order(app, code, quantity=2)
        assert refused.value.errors == {"quantity": ["Tối đa 1."]}
        assert available(app, code) == 1

    @pytest.mark.parametrize(
        ("field", "value"),
        [("quantity", 0), ("quantity", "2.5"), ("buyer_phone", "12"), ("buyer_name", "")],
    )
    def test_bad_input_names_the_field(self, app: Any, field: str, value: Any) -> None:
        code = batch_on_sale(app)
        data = {"batch": code, "quantity": 1, "buyer_name": "Hoa", "buyer_phone": "0987654321"}
        with app.app_context(), pytest.raises(ValidationFailed) as refused:
            service.place_order(
                db.session, goc().settings, data={**data, field: value}, address="x"
            )
        assert list(refused.value.errors) == [field]
        assert available(app, code) == 10

    def test_a_batch_not_on_sale_takes_no_orders(self, app: Any) -> None:
        code = batch_on_sale(app)
        with app.app_context():
            batch = db.session.scalar(select(Batch).where(Batch.code == code))
            data = {"price_vnd": "45.000", "available": 10, "on_sale": False}
            offer = service.set_offer(db.session, actor=member(), batch=batch, data=data)
            assert offer.price_vnd == 45000
        with pytest.raises(Conflict):
            order(app, code)

    def test_only_the_owner_sets_an_offer_and_needs_a_payout_account(self, app: Any) -> None:
        code = batch_on_sale(app)
        with app.app_context():
            batch = db.session.scalar(select(Batch).where(Batch.code == code))
            data = {"price_vnd": 1000, "available": 1, "on_sale": True}
            with pytest.raises(Forbidden):
                service.set_offer(
                    db.session, actor=member(HOUSEHOLD_PHONES[1]), batch=batch, data=data
                )
            user = member()
            user.household.bank_account = ""
            with pytest.raises(ValidationFailed) as refused:
                service.set_offer(db.session, actor=user, batch=batch, data=data)
            assert "on_sale" in refused.value.errors

    def test_orders_per_address_are_throttled(self, app: Any) -> None:
        code = batch_on_sale(app, available=100)
        for _ in range(service.MAX_ORDERS_PER_ADDRESS):
            order(app, code, address="203.0.113.9")
        with pytest.raises(TooManyRequests):
            order(app, code, address="203.0.113.9")
        order(app, code, address="203.0.113.10")  # another buyer is not held up


class TestExpiry:
    def test_an_unpaid_order_expires_and_gives_its_units_back(self, app: Any) -> None:
        code = batch_on_sale(app, available=5)
        placed = order(app, code, quantity=5)
        assert available(app, code) == 0
        with app.app_context():
            later = utcnow() + timedelta(minutes=goc().settings.order_ttl_minutes, seconds=1)
            assert service.expire_orders(db.session, now=utcnow()) == 0
            assert service.expire_orders(db.session, now=later) == 1
            assert service.expire_orders(db.session, now=later) == 0  # once only
        assert reload(app, placed.order.code).status is OrderStatus.EXPIRED
        assert available(app, code) == 5

    def test_reading_an_overdue_order_expires_it(self, app: Any, client: Any) -> None:
        code = batch_on_sale(app, available=2)
        placed = order(app, code, quantity=2)
        with app.app_context():
            found = service.order_for_token(db.session, placed.token)
            found.expires_at = utcnow() - timedelta(seconds=1)
            db.session.commit()
        body = client.get(f"/api/v1/orders/{placed.token}").get_json()
        assert body["status"] == "expired"
        assert available(app, code) == 2

    def test_a_new_order_expires_overdue_ones_first(self, app: Any) -> None:
        code = batch_on_sale(app, available=1)
        first = order(app, code)
        with app.app_context():
            found = service.order_for_token(db.session, first.token)
            found.expires_at = utcnow() - timedelta(seconds=1)
            db.session.commit()
        order(app, code)  # the expired order's unit is on sale again
        assert reload(app, first.order.code).status is OrderStatus.EXPIRED

    def test_the_ttl_is_configurable(self, database_url: str, tmp_path: Any) -> None:
        from app import create_app
        from tests.support import app_config

        configured = create_app(app_config(database_url, tmp_path, ORDER_TTL_MINUTES="5"))
        try:
            assert configured.extensions["goc"].settings.order_ttl_minutes == 5
        finally:
            with configured.app_context():
                db.engine.dispose()

    def test_the_cli_command(self, app: Any) -> None:
        code = batch_on_sale(app, available=3)
        placed = order(app, code, quantity=3)
        with app.app_context():
            found = service.order_for_token(db.session, placed.token)
            found.expires_at = utcnow() - timedelta(seconds=1)
            db.session.commit()
        result: Result = app.test_cli_runner().invoke(args=["expire-orders"])
        assert result.exit_code == 0, result.output
        assert "Expired 1 unpaid orders." in result.output
        assert available(app, code) == 3


class TestApi:
    def test_order_and_follow_it_without_a_token(self, app: Any, client: Any) -> None:
        code = batch_on_sale(app)
        response = client.post(
            "/api/v1/orders",
            json={"batch": code, "quantity": 2, "buyer_name": "Hoa", "buyer_phone": "0987654321"},
        )
        assert response.status_code == 201, response.text
        body = response.get_json()
        assert body["amount"] == 2 * PRICE and body["status"] == "pending"
        assert body["code"].startswith("GOC") and body["transfer_content"] == body["code"]
        assert body["vietqr"].startswith("000201010212") and body["code"] in body["vietqr"]
        assert body["bank"] == {
            "bin": "970405",
            "name": "Agribank",
            "account": ACCOUNT,
            "holder": HOLDER,
        }
        assert body["status_url"] == f"http://goc.test/api/v1/orders/{body['token']}"
        assert body["order_url"] == f"http://goc.test/o/{body['token']}"
        status = client.get(f"/api/v1/orders/{body['token']}")
        assert status.status_code == 200
        assert status.get_json()["status"] == "pending" and "token" not in status.get_json()
        assert client.get("/api/v1/orders/not-a-token").status_code == 404

    def test_errors_name_the_field(self, app: Any, client: Any) -> None:
        code = batch_on_sale(app, available=1)
        missing = client.post("/api/v1/orders", json={"batch": code, "quantity": 1})
        assert missing.status_code == 422 and "buyer_name" in missing.get_json()["errors"]
        too_many = client.post(
            "/api/v1/orders",
            json={"batch": code, "quantity": 2, "buyer_name": "Hoa", "buyer_phone": "0987654321"},
        )
        assert too_many.status_code == 409 and "quantity" in too_many.get_json()["errors"]
        unknown = client.post(
            "/api/v1/orders",
            json={"batch": "BNOPE", "quantity": 1, "buyer_name": "H", "buyer_phone": "0987654321"},
        )
        assert unknown.status_code == 422 and "batch" in unknown.get_json()["errors"]

    def test_the_openapi_document_lists_orders_without_security(self, client: Any) -> None:
        spec = client.get("/api/openapi.json").get_json()
        create = spec["paths"]["/api/v1/orders"]["post"]
        assert create["security"] == [] and "201" in create["responses"]
        assert spec["paths"]["/api/v1/orders/{token}"]["get"]["security"] == []
        assert spec["paths"]["/api/v1/batches/{code}/offer"]["put"]["security"]

    def test_a_household_puts_a_batch_on_sale_through_the_api(self, app: Any, client: Any) -> None:
        from app.services.accounts import issue_token

        code = batch_on_sale(app)
        with app.app_context():
            token = issue_token(db.session, user=member(), label="test")
            other = issue_token(db.session, user=member(HOUSEHOLD_PHONES[1]), label="test")
        offer = {"price_vnd": 50000, "available": 7, "on_sale": True}
        response = client.put(
            f"/api/v1/batches/{code}/offer",
            json=offer,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        assert response.get_json() == {"batch": code, **offer}
        foreign = client.put(
            f"/api/v1/batches/{code}/offer",
            json=offer,
            headers={"Authorization": f"Bearer {other}"},
        )
        assert foreign.status_code == 404


class TestBuyerPages:
    def test_the_batch_page_shows_the_order_form_and_sold_count(
        self, app: Any, client: Any
    ) -> None:
        code = batch_on_sale(app, available=10)
        page = client.get(f"/b/{code}")
        html = page.text
        assert 'id="order"' in html and "45.000 ₫" in html and "10 quả" in html
        assert 'name="buyer_phone"' in html and 'name="csrf_token"' not in html
        assert "đã bán 0 / đã thu hoạch 100 quả" in html
        assert "public" in page.headers["Cache-Control"]

    def test_ordering_from_the_page_leads_to_the_order_page(self, app: Any, client: Any) -> None:
        code = batch_on_sale(app)
        response = client.post(
            f"/b/{code}/order",
            data={"quantity": "2", "buyer_name": "Hoa", "buyer_phone": "0987 654 321"},
        )
        assert response.status_code == 303
        page = client.get(response.headers["Location"])
        html = page.text
        assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
        assert "90.000 ₫" in html and "Agribank" in html and ACCOUNT in html and HOLDER in html
        assert re.search(r'id="transfer-content">GOC\w{6}<', html)
        assert "/qr.png" in html and "order-status.js" in html
        assert "Đang chờ chuyển khoản" in html

    def test_a_refused_order_shows_the_form_again(self, app: Any, client: Any) -> None:
        code = batch_on_sale(app, available=1)
        response = client.post(
            f"/b/{code}/order", data={"quantity": "5", "buyer_name": "Hoa", "buyer_phone": "09"}
        )
        assert response.status_code == 422
        assert 'id="buyer_phone-error"' in response.text and 'value="Hoa"' in response.text

    def test_the_status_endpoint(self, app: Any, client: Any) -> None:
        placed = order(app, batch_on_sale(app))
        body = client.get(f"/o/{placed.token}/status.json").get_json()
        assert body == {
            "code": placed.order.code,
            "status": "pending",
            "flag": None,
            "amount": PRICE,
            "paid": 0,
        }
        assert client.get("/o/nope/status.json").status_code == 404


class TestSale:
    def test_a_paid_order_is_a_signed_sale_counted_on_the_batch_page(
        self, app: Any, client: Any
    ) -> None:
        code = batch_on_sale(app)
        placed = order(app, code, quantity=3)
        delivered = deliver(client, sepay_body(1, placed.order.code, 3 * PRICE))
        assert delivered.status_code == 200, delivered.text
        paid = reload(app, placed.order.code)
        assert paid.status is OrderStatus.PAID and paid.sale_seq is not None
        with app.app_context():
            entry = goc().ledger.entry(paid.sale_seq)
            assert entry is not None
            statement = entry.statement.parse()
        assert statement.kind == "sale" and statement.subject == f"batch:{code}"
        assert statement.body == {"batch": code, "quantity": 3, "unit": "quả", "order": paid.code}
        assert "đã bán 3 / đã thu hoạch 100 quả" in client.get(f"/b/{code}").text

    def test_household_hands_over_only_paid_orders(self, app: Any) -> None:
        placed = order(app, batch_on_sale(app))
        with app.app_context():
            found = service.order_for_token(db.session, placed.token)
            with pytest.raises(Conflict):
                service.hand_over(db.session, actor=member(), order=found)


def test_order_codes_survive_bank_mangling() -> None:
    assert codes_in("GOCAB2CDE") == ["GOCAB2CDE"]
    assert codes_in("MBVCB.3278907687.goc ab2 cde.CT tu 0123") == ["GOCAB2CDE"]
    assert "GOCAB2CDE" in codes_in("Nguyễn Thị Ngọc chuyển tiền GÓC-AB2-CDE")
    assert codes_in("chuyen tien mua buoi") == []
    assert codes_in("GOCAB2CD") == []  # too short

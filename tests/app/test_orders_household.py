"""The household's side of selling: the sale form, orders, the inbox, cash and hand-over."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from app.context import goc
from app.extensions import db
from app.models import OrderStatus, Payment, PaymentMethod
from app.services.payments import payments_of
from tests.orders_support import (
    ACCOUNT,
    PRICE,
    batch_on_sale,
    deliver,
    order,
    reload,
    sepay_body,
)
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, login


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def seller(client: Any) -> Any:
    assert login(client, HOUSEHOLD_PHONES[0]).status_code == 302
    return client


def test_the_sale_form_sets_price_and_stock(app: Any, client: Any) -> None:
    code = batch_on_sale(app)
    seller(client)
    batch_page = client.get(f"/household/batches/{code}").text
    assert "Đang bán" in batch_page and "45.000 ₫" in batch_page and "còn 10 quả" in batch_page
    url = f"/household/batches/{code}/offer"
    form = client.get(url).text
    assert 'name="price_vnd"' in form and 'value="45000"' in form
    saved = client.post(
        url,
        data={"form_token": hidden(form, "form_token"), "price_vnd": "50.000", "available": "7"},
    )
    assert saved.status_code == 302
    page = client.get(f"/household/batches/{code}").text
    assert "Đã lưu cài đặt bán hàng." in page and "Không bán." in page
    refused = client.post(
        url, data={"form_token": hidden(form, "form_token"), "price_vnd": "0", "available": "1"}
    )
    assert refused.status_code == 422 and 'id="price_vnd-error"' in refused.text


def test_another_household_cannot_sell_my_batch(app: Any, client: Any) -> None:
    code = batch_on_sale(app)
    assert login(client, HOUSEHOLD_PHONES[1]).status_code == 302
    assert client.get(f"/household/batches/{code}/offer").status_code == 404


def test_orders_cash_confirmation_and_hand_over(app: Any, client: Any) -> None:
    code = batch_on_sale(app)
    placed = order(app, code, quantity=2)
    seller(client)
    page = client.get("/household/orders").text
    assert placed.order.code in page and "Chờ thanh toán" in page and "90.000 ₫" in page
    assert "Lê Thị Hoa" in page and "+84987654321" in page

    too_early = client.post(f"/household/orders/{placed.order.code}/hand-over")
    assert too_early.status_code == 302
    assert "Chỉ giao được đơn đã thanh toán." in client.get("/household/orders").text

    confirmed = client.post(
        f"/household/orders/{placed.order.code}/confirm", data={"method": "cash"}
    )
    assert confirmed.status_code == 302
    paid = reload(app, placed.order.code)
    assert paid.status is OrderStatus.PAID and paid.paid_vnd == 2 * PRICE and paid.sale_seq
    with app.app_context():
        [payment] = db.session.scalars(select(Payment).where(Payment.order_id == paid.id))
        assert payment.method is PaymentMethod.CASH and payment.recorded_by_id is not None

    client.post(f"/household/orders/{placed.order.code}/hand-over")
    assert reload(app, placed.order.code).status is OrderStatus.HANDED_OVER
    listed = client.get("/household/orders").text
    assert "Đã giao" in listed and "Tiền mặt" in listed


def test_an_unmatched_transfer_is_assigned_by_hand(app: Any, client: Any) -> None:
    code = batch_on_sale(app)
    placed = order(app, code, quantity=1)
    deliver(client, sepay_body(501, "chuyen tien mua buoi cho chi Hoa", PRICE))
    seller(client)
    page = client.get("/household/orders").text
    assert "chuyen tien mua buoi cho chi Hoa" in page
    payment_id = re.search(r'id="payment-(\d+)"', page)
    assert payment_id
    wrong = client.post(
        f"/household/payments/{payment_id.group(1)}/assign", data={"order_code": "GOCZZZZZZ"}
    )
    assert wrong.status_code == 302
    assert reload(app, placed.order.code).status is OrderStatus.PENDING
    client.post(
        f"/household/payments/{payment_id.group(1)}/assign",
        data={"order_code": placed.order.code.lower()},
    )
    assert reload(app, placed.order.code).status is OrderStatus.PAID
    assert "Không có khoản nào chờ gán" in client.get("/household/orders").text


def test_another_household_cannot_assign_my_transfer(app: Any, client: Any) -> None:
    code = batch_on_sale(app)
    placed = order(app, code)
    deliver(client, sepay_body(601, "khong ma", PRICE))
    with app.app_context():
        payment = db.session.scalar(select(Payment))
        assert payment is not None
        payment_id = payment.id
    assert login(client, HOUSEHOLD_PHONES[1]).status_code == 302
    client.post(f"/household/payments/{payment_id}/assign", data={"order_code": placed.order.code})
    assert reload(app, placed.order.code).status is OrderStatus.PENDING


def test_a_seller_cannot_remove_the_account_buyers_pay_into(app: Any, client: Any) -> None:
    """While a batch is on sale (or an order awaits payment) the payout account must stay
    payable by VietQR: clearing it is refused, naming the field, and changes nothing."""
    placed = order(app, batch_on_sale(app), quantity=1)
    seller(client)
    profile = client.get("/household/profile").text
    assert 'name="bank_account"' in profile
    refused = client.post(
        "/household/profile",
        data={"head_name": "Nguyễn Văn An", "bank_bin": "", "bank_account": ""},
    )
    assert refused.status_code == 422 and 'id="bank_account-error"' in refused.text
    page = client.get(f"/o/{placed.token}")
    assert page.status_code == 200 and ACCOUNT in page.text


def test_the_admins_assign_a_transfer_to_an_account_no_household_has(app: Any, client: Any) -> None:
    """A buyer paid into an old account of the household's without the order code: the transfer
    waits on the admins' page, and assigning it pays the order, appends the sale and hands the
    payment to the order's household."""
    code = batch_on_sale(app)
    placed = order(app, code, quantity=2)
    deliver(client, sepay_body(701, "tien buoi chi Hoa", 2 * PRICE, account="0011998877"))
    seller(client)
    assert "tien buoi chi Hoa" not in client.get("/household/orders").text
    client.post("/auth/logout")
    assert login(client, ADMIN_PHONE).status_code == 302
    overview = client.get("/admin/").text
    assert "Khoản chuyển khoản cần gán (1)" in overview
    page = client.get("/admin/payments").text
    assert "tien buoi chi Hoa" in page and "0011998877" in page and "90.000 ₫" in page
    payment_id = re.search(r'id="payment-(\d+)"', page)
    assert payment_id
    url = f"/admin/payments/{payment_id.group(1)}/assign"
    with app.app_context():
        size = goc().ledger.size()
    wrong = client.post(url, data={"order_code": "GOCZZZZZZ"}, follow_redirects=True)
    assert "Không có đơn hàng với mã này." in wrong.text
    assert reload(app, placed.order.code).status is OrderStatus.PENDING
    done = client.post(url, data={"order_code": placed.order.code}, follow_redirects=True)
    assert f"Đã gán khoản chuyển khoản vào đơn {placed.order.code}." in done.text
    assert "tien buoi chi Hoa" not in done.text
    paid = reload(app, placed.order.code)
    assert paid.status is OrderStatus.PAID and paid.sale_seq == size
    client.post("/auth/logout")
    seller(client)
    orders_page = client.get("/household/orders").text
    assert "tien buoi chi Hoa" not in orders_page  # not waiting: counted
    with app.app_context():
        payment = db.session.get(Payment, int(payment_id.group(1)))
        assert payment is not None and payment.order_id == paid.id
        assert payment.household_id is not None
        assert payment in payments_of(db.session, payment.household)

"""A buyer on a 360x740 phone orders from the batch page, sees the VietQR, and the order page
turns to paid by itself once the bank feed's webhook arrives at the live server."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from tests.browser.conftest import ARTIFACTS
from tests.orders_support import ACCOUNT, PRICE, batch_on_sale, sepay_body
from tests.support import WEBHOOK_KEY


def test_order_pay_by_vietqr_and_see_it_paid(app: Any, live_server: str, phone_page: Any) -> None:
    page = phone_page
    code = batch_on_sale(app, available=10)

    page.goto(f"{live_server}/b/{code}")
    assert "45.000 ₫" in page.inner_text("#order")
    page.fill("#quantity", "2")
    page.fill("#buyer_name", "Lê Thị Hoa")
    page.fill("#buyer_phone", "0987 654 321")
    page.fill("#note", "Lấy ở nhà văn hoá thôn, chiều thứ Bảy")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "buyer-01-order-form.png"), full_page=True)
    page.click("#order button[type=submit]")
    page.wait_for_url(re.compile(r"/o/[\w-]+$"))

    qr = page.locator(".vietqr img")
    qr.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", qr.element_handle())
    status = page.locator("#order-status-text")
    assert status.inner_text() == "Đang chờ chuyển khoản"
    order_code = page.inner_text("#transfer-content")
    assert re.fullmatch(r"GOC\w{6}", order_code)
    details = page.inner_text("#pay")
    assert "90.000 ₫" in details and ACCOUNT in details and "Agribank" in details
    page.screenshot(path=str(ARTIFACTS / "buyer-02-pay.png"), full_page=True)

    # The bank feed reports the transfer, its content mangled the way banks do.
    body = sepay_body(777, f"MBVCB.123.{order_code.lower()} chuyen tien mua buoi", 2 * PRICE)
    request = urllib.request.Request(
        f"{live_server}/payments/webhook/sepay",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Apikey {WEBHOOK_KEY}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.load(response) == {"success": True, "result": "paid", "order": order_code}

    # The page polls its status and reloads itself: no action from the buyer.
    page.wait_for_function(
        "() => document.getElementById('order-status')?.dataset.status === 'paid'",
        timeout=20_000,
    )
    assert page.inner_text("#order-status-text") == "Đã thanh toán. Cảm ơn bạn!"
    assert page.locator(".vietqr").count() == 0
    page.screenshot(path=str(ARTIFACTS / "buyer-03-paid.png"), full_page=True)

    page.goto(f"{live_server}/b/{code}")
    # The batch page is cacheable for a minute (a CDN serves it at the market stall); reloading
    # revalidates it, and its ETag changed with the sale's ledger entry.
    page.reload()
    assert "đã bán 2 / đã thu hoạch 100 quả" in page.inner_text("main")

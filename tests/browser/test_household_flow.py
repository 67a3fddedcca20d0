"""A household member on a 360x740 phone: log in, create a batch, record steps with a photo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app.context import goc
from tests.browser.conftest import ARTIFACTS
from tests.support import HOUSEHOLD_PHONES, PASSWORD, jpeg_bytes


def test_record_spraying_and_harvest_with_a_photo(
    app: Any, live_server: str, phone_page: Any, tmp_path: Path
) -> None:
    page = phone_page
    photo = tmp_path / "buoi.jpg"
    photo.write_bytes(jpeg_bytes(size=(800, 600)))

    page.goto(f"{live_server}/auth/login")
    page.fill("#phone", HOUSEHOLD_PHONES[0].replace("0912", "0912 ", 1))
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/household/$"))

    page.click("a[href$='/household/batches/new']")
    page.fill("#product", "Bưởi Phúc Trạch")
    page.fill("#variety", "Phúc Trạch")
    page.select_option("#unit", "quả")
    page.fill("#start_date", "2026-02-01")
    page.screenshot(path=str(ARTIFACTS / "01-new-batch.png"), full_page=True)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/household/batches/B\w+$"))
    back_on_batch = re.compile(re.escape(page.url) + r"#step-\d+$")

    page.click("a[href$='/steps/spraying/new']")
    page.fill("#product", "Regent 800WG")
    page.fill("#active_ingredient", "fipronil")
    page.fill("#dose", "1 gói 1,6 g / bình 16 lít")
    page.fill("#phi_days", "14")
    page.fill("#occurred_at", "2026-03-10T07:30")
    page.screenshot(path=str(ARTIFACTS / "02-spraying-form.png"), full_page=True)
    page.click("form button[type=submit]")
    page.wait_for_url(back_on_batch)

    page.click("a[href$='/steps/harvest/new']")
    page.fill("#quantity", "480")
    page.set_input_files("input[name=photos]", str(photo))
    page.click("form button[type=submit]")
    page.wait_for_url(back_on_batch)
    page.screenshot(path=str(ARTIFACTS / "03-batch-with-steps.png"), full_page=True)

    body = page.inner_text("main")
    assert "Regent 800WG" in body and "fipronil" in body and "480" in body
    with app.app_context():
        size = goc().ledger.size()
    # two enrolments (register + profile each), the batch, and the two steps
    assert size == 7
    assert f"#{size - 1}" in body and f"#{size - 2}" in body
    thumbnail = page.locator(".thumbs img").first
    thumbnail.scroll_into_view_if_needed()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth > 0")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "the batch page must not scroll sideways on a 360 px phone"

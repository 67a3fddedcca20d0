"""The printable A4 label sheet of a batch: N stickers for ?per_page=N, each with the product,
lot, household and the batch's QR code (the same SVG, and URL, as /b/<code>/qr.svg)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from storefront.labels import LAYOUTS
from tests.storefront.test_pages import GTIN13, PAGE_BUDGET, new_batch
from tests.support import HOUSEHOLD_PHONES, login


@pytest.fixture
def batch_code(app: Any) -> str:
    with app.app_context():
        return new_batch(gtin=GTIN13, lot="PT-26-07").code


def stickers(html: str) -> list[str]:
    return re.findall(r'<div class="sticker">.*?</div></div>', html)


@pytest.mark.parametrize("per_page", sorted(LAYOUTS))
def test_sheet_has_one_qr_sticker_per_place(client: Any, batch_code: str, per_page: int) -> None:
    response = client.get(f"/b/{batch_code}/labels?per_page={per_page}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    found = stickers(html)
    assert len(found) == per_page
    assert html.count('<img class="qr"') == per_page
    for sticker in found:
        assert f'src="/b/{batch_code}/qr.svg"' in sticker
        for shown in ("Bưởi Phúc Trạch", "Bưởi đường", "Mã lô PT-26-07", "Nguyễn Văn An"):
            assert shown in sticker, shown
    assert f'class="sheet l{per_page}"' in html
    assert "<script" not in html


def test_the_sticker_qr_is_the_batch_digital_link(client: Any, batch_code: str) -> None:
    html = client.get(f"/b/{batch_code}/labels").get_data(as_text=True)
    assert len(stickers(html)) == 21  # the default layout
    assert f"goc.test/01/0{GTIN13}/10/PT-26-07" in html
    qr = client.get(f"/b/{batch_code}/qr.svg")
    assert qr.status_code == 200 and b"<svg" in qr.data


def test_print_css_is_a4_without_margins_and_keeps_stickers_whole(client: Any) -> None:
    with client.get("/static/labels.css") as response:
        css = response.get_data(as_text=True)
    assert "@page{size:A4;margin:0}" in css
    assert "break-inside:avoid" in css
    for per_page, layout in LAYOUTS.items():
        grid = f"repeat({layout.columns},1fr);grid-template-rows:repeat({layout.rows},1fr)"
        assert f".l{per_page}{{grid-template-columns:{grid}}}" in css
        assert layout.columns * layout.rows == per_page


@pytest.mark.parametrize("value", ["7", "0", "-8", "abc", "", "8.0", "1000000"])
def test_bad_per_page_is_a_400_naming_it(client: Any, batch_code: str, value: str) -> None:
    response = client.get(f"/b/{batch_code}/labels", query_string={"per_page": value})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<strong>per_page</strong>" in html
    assert "8, 12, 21, 24, 40" in html


def test_unknown_batch_is_a_404(client: Any) -> None:
    assert client.get("/b/BNOSUCH/labels").status_code == 404


def test_cacheable_like_the_other_public_pages(client: Any, batch_code: str) -> None:
    first = client.get(f"/b/{batch_code}/labels?per_page=8")
    assert "public" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    assert (
        client.get(
            f"/b/{batch_code}/labels?per_page=8", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )
    assert (
        client.get(
            f"/b/{batch_code}/labels?per_page=12", headers={"If-None-Match": etag}
        ).status_code
        == 200
    )


def test_the_household_batch_page_links_to_the_sheet(client: Any, batch_code: str) -> None:
    login(client, HOUSEHOLD_PHONES[0])
    html = client.get(f"/household/batches/{batch_code}").get_data(as_text=True)
    assert f'href="/b/{batch_code}/labels"' in html
    assert "In nhãn (A4)" in html


def test_the_largest_sheet_stays_under_budget(client: Any, batch_code: str) -> None:
    html = client.get(f"/b/{batch_code}/labels?per_page=40").data
    with client.get("/static/labels.css") as css, client.get(f"/b/{batch_code}/qr.svg") as qr:
        assert len(html) + len(css.data) + len(qr.data) < PAGE_BUDGET

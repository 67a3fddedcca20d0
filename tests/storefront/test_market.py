"""The marketplace home at ``/``: batches across the hamlet, newest first, searchable with or
without Vietnamese diacritics (the same on SQLite and PostgreSQL), filterable by product and
commune, cacheable like the other public pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app.context import goc
from app.extensions import db
from app.search import fold
from app.services.households import update_profile
from storefront import market
from tests.storefront.test_pages import PAGE_BUDGET, ago, member, new_batch, step
from tests.support import migrate


def listed(html: str) -> list[str]:
    """Batch codes in the order the page lists them."""
    return re.findall(r'<a href="/b/(B\w+)">', html)


@pytest.fixture
def hamlet(app: Any) -> dict[str, str]:
    """Pomelos and rice from the first household, red beans from the second (another commune)."""
    with app.app_context():
        pomelo = new_batch(0, product="Bưởi", variety="Da xanh")
        step(pomelo, "harvest", {"quantity": "50", "occurred_at": ago(2)}, photos=1)
        rice = new_batch(0, product="Gạo", variety="ST25")
        second = member(1)
        update_profile(db.session, goc(), actor=second, household=second.household,
                       public={"commune": "Phúc Đồng"}, private={})  # fmt: skip
        beans = new_batch(1, product="Đậu đỏ", variety="")
        return {"pomelo": pomelo.code, "rice": rice.code, "beans": beans.code}


def test_migration_fills_the_search_keys_of_existing_rows(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0002_app_tables")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO households (id, code, head_name, hamlet, commune, province, crops,"
            " sanitation, waste_treatment, certificates, share_location, phone, bank_bin,"
            " bank_account, bank_account_name, created_at) VALUES (1, 'H1', 'Đặng Thị Lụa',"
            " 'Thôn Đông', 'Phúc Đồng', 'Hà Tĩnh', '', '', '', '', 0, '+84912000101', '', '',"
            " '', '2026-01-01')"))  # fmt: skip
        conn.execute(text(
            "INSERT INTO batches (id, code, household_id, product, variety, plot, unit,"
            " start_date, lot, seq, created_at) VALUES (1, 'BOLD1', 1, 'Bưởi', 'Da xanh', '',"
            " 'quả', '2026-01-01', 'L-01', 7, '2026-01-01')"))  # fmt: skip
    migrate(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT search_text FROM batches")).scalar_one() == (
            "buoi da xanh l 01 bold1"
        )
        assert conn.execute(text("SELECT search_text FROM households")).scalar_one() == (
            "dang thi lua thon dong phuc dong ha tinh"
        )
    engine.dispose()


def test_fold_removes_diacritics_and_d_bar() -> None:
    assert fold("Bưởi  DA-xanh") == "buoi da xanh"
    assert fold("Đậu đỏ Đức Thọ") == "dau do duc tho"
    assert fold("Nguyễn Thị Ánh Hường") == "nguyen thi anh huong"


class TestListing:
    def test_lists_every_batch_newest_first_with_household_and_status(
        self, client: Any, hamlet: dict[str, str]
    ) -> None:
        response = client.get("/")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert listed(html) == [hamlet["beans"], hamlet["rice"], hamlet["pomelo"]]
        shown = ["Bưởi", "Da xanh", "Gạo", "ST25", "Đậu đỏ", "Nguyễn Văn An", "Trần Thị Bình"]
        shown += ["Hương Khê", "Phúc Đồng", "Đã thu hoạch", "Đang canh tác"]
        for expected in shown:
            assert expected in html, expected
        pomelo = html[html.index(f'href="/b/{hamlet["pomelo"]}"') - 300 :]
        assert re.search(r'<img src="/p/[0-9a-f]{64}\.jpg"', pomelo)
        assert 'lang="vi"' in html

    def test_english_with_lang_en(self, client: Any, hamlet: dict[str, str]) -> None:
        html = client.get("/?lang=en").get_data(as_text=True)
        assert 'lang="en"' in html
        assert "Harvested" in html and "Growing" in html

    def test_pages_of_listings(
        self, client: Any, hamlet: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(market, "LISTINGS_PER_PAGE", 2)
        first = client.get("/?q=huong khe").get_data(as_text=True)
        assert listed(first) == [hamlet["rice"], hamlet["pomelo"]]
        assert "page=2" not in first
        page_one = client.get("/").get_data(as_text=True)
        assert listed(page_one) == [hamlet["beans"], hamlet["rice"]]
        assert 'href="/?page=2"' in page_one
        page_two = client.get("/?page=2").get_data(as_text=True)
        assert listed(page_two) == [hamlet["pomelo"]]
        assert 'href="/?page=1"' in page_two


class TestSearch:
    @pytest.mark.parametrize(
        "query",
        ["buoi da xanh", "Bưởi da xanh", "BUOI", "da xanh buoi", "bưoi", "nguyen van an buoi"],
    )
    def test_with_or_without_diacritics(
        self, client: Any, hamlet: dict[str, str], query: str
    ) -> None:
        html = client.get("/", query_string={"q": query}).get_data(as_text=True)
        assert listed(html) == [hamlet["pomelo"]], query

    def test_d_bar_folds_to_d(self, client: Any, hamlet: dict[str, str]) -> None:
        for query in ("dau do", "Đậu Đỏ", "phuc dong", "tran thi binh"):
            html = client.get("/", query_string={"q": query}).get_data(as_text=True)
            assert listed(html) == [hamlet["beans"]], query

    def test_no_match(self, client: Any, hamlet: dict[str, str]) -> None:
        for query in ("xoai", "buoi gao", "gao dau"):
            html = client.get("/", query_string={"q": query}).get_data(as_text=True)
            assert listed(html) == [], query
            assert "Không có lô hàng nào khớp" in html

    def test_punctuation_is_not_a_wildcard(self, client: Any, hamlet: dict[str, str]) -> None:
        """Search words are folded to letters and digits: ``%`` or ``_`` never reach LIKE."""
        assert len(listed(client.get("/?q=%25").get_data(as_text=True))) == 3
        html = client.get("/", query_string={"q": "b%i da_xanh"}).get_data(as_text=True)
        assert listed(html) == [hamlet["pomelo"]]

    def test_a_renamed_household_is_found_by_its_new_name(
        self, app: Any, client: Any, hamlet: dict[str, str]
    ) -> None:
        with app.app_context():
            first = member(0)
            update_profile(db.session, goc(), actor=first, household=first.household,
                           public={"head_name": "Lê Thị Hồng"}, private={})  # fmt: skip
        html = client.get("/?q=le thi hong").get_data(as_text=True)
        assert listed(html) == [hamlet["rice"], hamlet["pomelo"]]
        assert listed(client.get("/?q=nguyen van an").get_data(as_text=True)) == []

    def test_too_long_a_query_is_a_400_naming_it(self, client: Any) -> None:
        response = client.get("/", query_string={"q": "b" * 101})
        assert response.status_code == 400
        assert "<strong>q</strong>" in response.get_data(as_text=True)
        response = client.get(
            "/", query_string={"commune": "x" * 121}, headers={"Accept": "application/json"}
        )
        assert response.status_code == 400
        assert "commune" in response.get_json()["errors"]


class TestFilters:
    def test_by_product(self, client: Any, hamlet: dict[str, str]) -> None:
        html = client.get("/", query_string={"product": "Gạo"}).get_data(as_text=True)
        assert listed(html) == [hamlet["rice"]]
        assert "<option selected>Gạo</option>" in html

    def test_by_commune(self, client: Any, hamlet: dict[str, str]) -> None:
        html = client.get("/", query_string={"commune": "Phúc Đồng"}).get_data(as_text=True)
        assert listed(html) == [hamlet["beans"]]
        html = client.get("/", query_string={"commune": "Hương Khê"}).get_data(as_text=True)
        assert listed(html) == [hamlet["rice"], hamlet["pomelo"]]

    def test_choices_are_in_vietnamese_order_and_combine_with_search(
        self, client: Any, hamlet: dict[str, str]
    ) -> None:
        html = client.get("/").get_data(as_text=True)
        assert re.findall(r"<option>([^<]+)</option>", html) == [
            "Bưởi", "Đậu đỏ", "Gạo", "Hương Khê", "Phúc Đồng"]  # fmt: skip
        both = {"q": "buoi", "commune": "Phúc Đồng"}
        assert listed(client.get("/", query_string=both).get_data(as_text=True)) == []


class TestCachingAndWeight:
    def test_etag_until_a_new_batch(self, app: Any, client: Any, hamlet: dict[str, str]) -> None:
        first = client.get("/?q=buoi")
        assert "public" in first.headers["Cache-Control"]
        again = client.get("/?q=buoi", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
        other = client.get("/?q=gao", headers={"If-None-Match": first.headers["ETag"]})
        assert other.status_code == 200
        with app.app_context():
            new_batch(0, product="Bưởi", variety="Năm roi")
        after = client.get("/?q=buoi", headers={"If-None-Match": first.headers["ETag"]})
        assert after.status_code == 200 and len(listed(after.get_data(as_text=True))) == 2

    def test_a_full_page_stays_under_budget(self, app: Any, client: Any) -> None:
        long = "Bưởi đặc sản vùng núi Hương Khê " * 3
        with app.app_context():
            for n in range(market.LISTINGS_PER_PAGE + 1):
                new_batch(n % 2, product=long[:120], variety=f"{n} " + long[:100])
        html = client.get("/").data
        assert len(listed(html.decode())) == market.LISTINGS_PER_PAGE
        with client.get("/static/app.css") as css, client.get("/static/market.css") as extra:
            assert len(html) + len(css.data) + len(extra.data) < PAGE_BUDGET
        assert b"<script" not in html

"""Vietnamese is the default language; English with ?lang=en (kept in the session). The catalog
translates every msgid, keeps the placeholders, and compiles; marshmallow's own messages and
coded choices reach the household in Vietnamese too."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from sqlalchemy import select

from app.extensions import db
from app.models import Batch, Step, User
from app.services.accounts import issue_token
from app.services.households import normalise_phone
from app.steps import SprayingSchema
from tests.support import HOUSEHOLD_PHONES, login

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
PO = TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
START = (date.today() - timedelta(days=30)).isoformat()
BATCH = {"product": "Bưởi Phúc Trạch", "unit": "quả", "start_date": START}
SPRAYING = {
    "product": "Boóc-đô",
    "active_ingredient": "đồng sunfat",
    "dose": "20 ml / bình 16 l",
    "phi_days": "7",
}
# %(name)s / %(n)d for gettext, {name} for the messages marshmallow fills in itself.
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[sd]|\{\w*\}")


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def submit(client: Any, url: str, data: dict[str, str]) -> Any:
    """Open the form, then send it with its one-time token, as a browser does."""
    form = client.get(url)
    assert form.status_code == 200, form.text
    return client.post(url, data={"form_token": hidden(form.text, "form_token"), **data})


def new_batch(client: Any) -> str:
    response = submit(client, "/household/batches/new", BATCH)
    assert response.status_code == 302, response.text
    return str(response.headers["Location"]).rsplit("/", 1)[-1]


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def catalog_messages() -> list[Any]:
    with PO.open("rb") as f:
        catalog = read_po(f)
    return [message for message in catalog if message.id]


@pytest.fixture
def member(client: Any) -> Any:
    """Household A's member, logged in without choosing a language."""
    assert login(client, HOUSEHOLD_PHONES[0]).status_code == 302
    return client


class TestDefaultLanguage:
    def test_login_page_is_vietnamese(self, client: Any) -> None:
        html = client.get("/auth/login").text
        assert '<html lang="vi">' in html
        assert "<h1>Đăng nhập</h1>" in html
        assert "Số điện thoại" in html and "Mật khẩu" in html
        assert 'href="?lang=en"' in html and "Log in" not in html

    def test_household_pages_are_vietnamese(self, member: Any) -> None:
        dashboard = member.get("/household/").text
        assert "Lô hàng của tôi" in dashboard and "Lô hàng mới" in dashboard
        assert "Hồ sơ hộ gia đình" in dashboard and "Đăng xuất" in dashboard
        assert "Chưa có lô hàng nào" in dashboard

        form = member.get("/household/batches/new").text
        for label in ("Sản phẩm", "Giống", "Đơn vị", "Ngày bắt đầu", "Mã lô", "Tạo lô hàng"):
            assert label in form
        assert "(không bắt buộc)" in form and "<option>tấn</option>" in form

        code = new_batch(member)
        batch = member.get(f"/household/batches/{code}").text
        assert f"Đã tạo lô hàng {code}." in batch  # flashed
        assert "Ghi công đoạn" in batch and "Mã lô hàng" in batch and "Bản ghi sổ cái" in batch
        for step in ("Gieo trồng", "Bón phân", "Phun thuốc", "Tưới nước", "Thu hoạch"):
            assert f">{step}</a>" in batch

        step = member.get(f"/household/batches/{code}/steps/spraying/new").text
        assert "<h1>Phun thuốc</h1>" in step
        for label in ("Hoạt chất", "Thời gian cách ly (ngày)", "Ghi chú", "Lưu công đoạn"):
            assert label in step
        assert "Để trống thì lấy giờ hiện tại." in step

    def test_a_recorded_step_is_announced_in_vietnamese(self, member: Any) -> None:
        code = new_batch(member)
        response = submit(member, f"/household/batches/{code}/steps/spraying/new", SPRAYING)
        assert response.status_code == 302, response.text
        page = member.get(response.headers["Location"]).text
        assert re.search(r"Phun thuốc: đã ghi vào sổ cái, bản ghi số \d+\.", page)
        assert "1 công đoạn" in member.get("/household/").text

    def test_a_step_form_error_is_vietnamese(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        response = submit(
            member,
            f"/household/batches/{code}/steps/spraying/new",
            {**SPRAYING, "product": "", "phi_days": "bảy ngày", "dose": "x" * 201},
        )
        assert response.status_code == 422
        html = response.text
        assert "Vui lòng sửa các mục được đánh dấu." in html
        assert '<span class="error" id="product-error" role="alert">Vui lòng điền mục này.' in html
        assert '<a href="#phi_days">Thời gian cách ly (ngày)</a>: Vui lòng nhập số nguyên' in html
        assert "Cần từ 1 đến 200 ký tự." in html  # marshmallow fills the numbers in
        for english in ("Missing data", "Not a valid", "Length must be"):
            assert english not in html

    def test_range_errors_keep_their_bounds(self, member: Any) -> None:
        code = new_batch(member)
        url = f"/household/batches/{code}/steps/"
        negative = submit(member, url + "harvest/new", {"quantity": "-5"}).text
        assert '<span class="error" id="quantity-error" role="alert">Phải lớn hơn 0.' in negative
        too_long = submit(member, url + "spraying/new", {**SPRAYING, "phi_days": "400"}).text
        assert "Phải từ 0 đến 365." in too_long

    def test_the_error_page_links_home_without_script(self, client: Any) -> None:
        anonymous = client.get("/no-such-page")
        assert anonymous.status_code == 404
        assert "Không tìm thấy trang này." in anonymous.text
        assert 'href="/auth/login">Về trang chính</a>' in anonymous.text
        assert "javascript:" not in anonymous.text
        login(client, HOUSEHOLD_PHONES[0])
        signed_in = client.get("/no-such-page").text
        assert 'href="/household/">Về trang chính</a>' in signed_in


class TestEnglish:
    def test_lang_en_switches_and_sticks_across_login(self, client: Any) -> None:
        html = client.get("/auth/login?lang=en").text
        assert '<html lang="en">' in html and "<h1>Log in</h1>" in html
        assert 'href="?lang=vi"' in html and "Tiếng Việt" in html
        assert "<h1>Log in</h1>" in client.get("/auth/login").text  # kept in the session
        assert login(client, HOUSEHOLD_PHONES[0]).status_code == 302
        dashboard = client.get("/household/").text
        assert "My batches" in dashboard and "Lô hàng của tôi" not in dashboard

    def test_switching_back_to_vietnamese(self, member: Any) -> None:
        assert "My batches" in member.get("/household/?lang=en").text
        assert "My batches" in member.get("/household/").text
        assert "Lô hàng của tôi" in member.get("/household/?lang=vi").text
        assert "Lô hàng của tôi" in member.get("/household/").text

    def test_a_step_form_error_is_english(self, member: Any) -> None:
        member.get("/household/?lang=en")
        code = new_batch(member)
        response = submit(
            member, f"/household/batches/{code}/steps/spraying/new", {**SPRAYING, "product": ""}
        )
        assert response.status_code == 422
        assert "Please correct the highlighted fields." in response.text
        assert "Missing data for required field." in response.text


class TestChoiceLabels:
    def test_inspection_results_are_labelled_and_sent_as_codes(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        url = f"/household/batches/{code}/steps/inspection/new"
        form = member.get(url).text
        assert '<option value="pass">Đạt</option>' in form
        assert '<option value="fail">Không đạt</option>' in form
        assert '<option value="conditional">Đạt có điều kiện</option>' in form

        response = submit(member, url, {"inspector": "Chi cục Trồng trọt", "result": "conditional"})

        assert response.status_code == 302, response.text
        with app.app_context():
            step = db.session.scalar(select(Step).join(Step.batch).where(Batch.code == code))
            assert step is not None and step.data["result"] == "conditional"
            step_id = step.id
        batch = member.get(f"/household/batches/{code}").text
        assert "<dt>Kết quả</dt><dd>Đạt có điều kiện</dd>" in batch
        english = member.get(f"/household/batches/{code}?lang=en").text
        assert "<dt>Result</dt><dd>Passed with conditions</dd>" in english
        # The correction form starts from the recorded code, shown by its label.
        correction = member.get(f"/household/steps/{step_id}/correct?lang=vi").text
        assert '<option value="conditional" selected>Đạt có điều kiện</option>' in correction


class TestApi:
    @pytest.fixture
    def token(self, app: Any) -> str:
        with app.app_context():
            user = db.session.scalar(
                select(User).where(User.phone == normalise_phone(HOUSEHOLD_PHONES[0]))
            )
            assert user is not None
            return issue_token(db.session, user=user, label="i18n")

    def refused(self, client: Any, token: str, **headers: str) -> dict[str, Any]:
        response = client.post(
            "/api/v1/batches",
            json={"unit": "thùng gỗ", "start_date": START},
            headers={"Authorization": f"Bearer {token}", **headers},
        )
        assert response.status_code == 422, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def test_english_unless_vietnamese_is_asked_for(self, client: Any, token: str) -> None:
        body = self.refused(client, token)
        assert body["message"] == "Please correct the highlighted fields."
        assert body["errors"]["product"] == ["Missing data for required field."]
        assert body["errors"]["unit"][0].startswith("Must be one of: kg, tấn, quả")

    def test_vietnamese_with_accept_language(self, client: Any, token: str) -> None:
        body = self.refused(client, token, **{"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
        assert body["message"] == "Vui lòng sửa các mục được đánh dấu."
        assert body["errors"]["product"] == ["Vui lòng điền mục này."]
        assert body["errors"]["unit"][0].startswith("Chỉ được chọn một trong: kg, tấn, quả")
        # Each request is answered in its own language: the schemas keep no translation.
        assert self.refused(client, token)["errors"]["product"] == [
            "Missing data for required field."
        ]


def test_schemas_made_outside_a_request_are_english(app: Any) -> None:
    errors = SprayingSchema().validate({})
    assert errors["product"] == ["Missing data for required field."]
    with app.test_request_context("/"):
        assert SprayingSchema().validate({})["product"] == ["Vui lòng điền mục này."]
    assert SprayingSchema().validate({})["product"] == ["Missing data for required field."]


class TestCatalog:
    def test_every_msgid_is_translated(self) -> None:
        untranslated = [
            message.id
            for message in catalog_messages()
            if message.fuzzy
            or not (
                all(message.string) if isinstance(message.string, tuple) else message.string.strip()
            )
        ]
        assert not untranslated, "untranslated (or fuzzy) msgids:\n" + "\n".join(
            map(repr, untranslated)
        )

    def test_placeholders_match(self) -> None:
        mismatched = []
        for message in catalog_messages():
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            expected = placeholders(ids[-1])
            mismatched += [(ids[0], s) for s in strings if s and placeholders(s) != expected]
        assert not mismatched, "\n".join(f"{i!r} -> {s!r}" for i, s in mismatched)

    def test_vietnamese_has_one_plural_form(self) -> None:
        with PO.open("rb") as f:
            catalog = read_po(f)
        assert catalog.locale is not None and str(catalog.locale) == "vi"
        assert catalog.num_plurals == 1 and catalog.plural_expr == "0"

    def test_covers_every_msgid_in_the_code(self, tmp_path: Path) -> None:
        """Extracted as the README says: a string added to the UI needs its translation."""
        pot = tmp_path / "messages.pot"
        CommandLineInterface().run(
            [
                "pybabel",
                "--quiet",
                "extract",
                "-F",
                str(ROOT / "babel.cfg"),
                "-k",
                "_l",
                "-k",
                "lazy_gettext",
                "-o",
                str(pot),
                str(ROOT),
            ]
        )
        with pot.open("rb") as f:
            extracted = {message.id for message in read_po(f) if message.id}
        in_catalog = {message.id for message in catalog_messages()}
        missing = sorted(map(repr, extracted - in_catalog))
        assert not missing, "msgids missing from the catalog (pybabel update):\n" + "\n".join(
            missing
        )

    def test_compiles_and_loads(self, tmp_path: Path) -> None:
        with PO.open("rb") as f:
            catalog = read_po(f)
        errors = [(message.id, errs) for message, errs in catalog.check() if errs]
        assert not errors, errors
        mo = io.BytesIO()
        write_mo(mo, catalog)
        mo.seek(0)
        translations = Translations(mo, domain="messages")
        assert translations.gettext("Log in") == "Đăng nhập"
        assert translations.ngettext("%(num)d step", "%(num)d steps", 3) % {"num": 3} == (
            "3 công đoạn"
        )

    def test_the_compiled_catalog_is_up_to_date(self) -> None:
        assert MO.exists(), f"{MO} is missing: run pybabel compile -d app/translations"

        def entries(catalog: Any) -> dict[Any, Any]:  # read_mo gives plurals as lists
            return {
                tuple(m.id) if isinstance(m.id, list | tuple) else m.id: (
                    tuple(m.string) if isinstance(m.string, list | tuple) else m.string
                )
                for m in catalog
                if m.id
            }

        with PO.open("rb") as f:
            source = entries(read_po(f))
        with MO.open("rb") as f:
            compiled = entries(read_mo(f))
        assert compiled == source, "the .mo is stale: run pybabel compile -d app/translations"
        loaded = Translations.load(str(TRANSLATIONS), ["vi"])
        assert loaded.gettext("Lot") == "Mã lô"

"""The household pages, through the test client as a phone's browser uses them (no JavaScript):
forms carry a one-time token, photos go up as multipart, every refusal leaves the ledger alone."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from app import create_app
from app.context import goc
from app.extensions import db
from app.household.localtime import LOCAL_TZ
from app.models import Batch, Step, User
from app.services.batches import create_batch, record_step
from app.services.households import normalise_phone
from app.services.photos import prepare_photo
from app.steps import STEP_TYPES, BatchSchema
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, PASSWORD, app_config, jpeg_bytes, login

PAGE_BUDGET = 100 * 1024  # bytes of HTML plus app.css, before photos
START = date.today() - timedelta(days=30)
BATCH = {
    "product": "Bưởi Phúc Trạch",
    "variety": "Bưởi đường",
    "plot": "Vườn sau nhà",
    "unit": "quả",
    "expected_quantity": "1200",
    "start_date": START.isoformat(),
}
SPRAYING = {
    "product": "Boóc-đô",
    "active_ingredient": "đồng sunfat",
    "dose": "20 ml / bình 16 l",
    "phi_days": "7",
}
PHOTO_INPUT = (
    '<input type="file" id="photos" name="photos" accept="image/*" capture="environment" multiple'
)


def ledger_size(app: Any) -> int:
    with app.app_context():
        return goc().ledger.size()


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def field_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


def submit(client: Any, url: str, data: dict[str, Any], *, files: bool = False) -> Any:
    """Open the form, then send it with its one-time token, as a browser does."""
    form = client.get(url)
    assert form.status_code == 200, form.text
    sent = {"form_token": hidden(form.text, "form_token"), **data}
    return client.post(url, **(multipart(sent) if files else {"data": sent}))


def photo_upload(data: bytes, name: str = "vuon.jpg") -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name, content_type="image/jpeg")


def multipart(data: dict[str, Any]) -> dict[str, Any]:
    """Test-client arguments that post ``data`` as multipart/form-data encoded in memory (the
    client itself spools a body over 500 KB to a temporary file that it never closes)."""
    body, length, boundary = stream_encode_multipart(data, use_tempfile=False)
    return {
        "input_stream": body,
        "content_length": length,
        "content_type": f'multipart/form-data; boundary="{boundary}"',
    }


def new_batch(client: Any, **changes: str) -> str:
    response = submit(client, "/household/batches/new", {**BATCH, **changes})
    assert response.status_code == 302, response.text
    return str(response.headers["Location"]).rsplit("/", 1)[-1]


def record(client: Any, code: str, kind: str, data: dict[str, Any], *, files: bool = False) -> Any:
    return submit(client, f"/household/batches/{code}/steps/{kind}/new", data, files=files)


def steps_of(app: Any, code: str) -> list[Step]:
    with app.app_context():
        steps = db.session.scalars(
            select(Step).join(Step.batch).where(Batch.code == code).order_by(Step.seq)
        ).all()
        db.session.expunge_all()
        return list(steps)


def article(html: str, step_id: int) -> str:
    """The timeline article of one step (its corrections are inside it)."""
    found = re.search(rf'<article class="step" id="step-{step_id}">.*?</article>', html, re.S)
    assert found, f"step {step_id} is not on the page"
    return found.group(0)


def label(kind: str, name: str) -> str:
    return str(dict(STEP_TYPES[kind].form_fields())[name].metadata["label"])


def member_of(phone: str) -> User:
    user = db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))
    assert user is not None
    return user


@pytest.fixture
def member(client: Any) -> Any:
    """Household A's member, logged in, reading the English msgids."""
    client.get("/auth/login?lang=en")  # kept across login, so pages stay English
    assert login(client, HOUSEHOLD_PHONES[0]).status_code == 302
    return client


@pytest.fixture
def other(app: Any) -> SimpleNamespace:
    """Household B's batch, with a harvest step that has a photo."""
    with app.app_context():
        user = member_of(HOUSEHOLD_PHONES[1])
        batch = create_batch(
            db.session,
            goc(),
            actor=user,
            data={"product": "Gạo ST25 bí mật", "unit": "kg", "start_date": START.isoformat()},
        )
        photo = prepare_photo(jpeg_bytes((200, 30, 30)), keep_location=False)
        step = record_step(
            db.session,
            goc(),
            actor=user,
            batch=batch,
            kind="harvest",
            data={"quantity": "500"},
            photos=[photo],
        )
        return SimpleNamespace(
            code=batch.code,
            product=batch.product,
            step_id=step.id,
            photo=photo.sha256,
            thumb=photo.thumb_sha256,
        )


class TestAccess:
    def test_anonymous_is_sent_to_login(self, client: Any) -> None:
        response = client.get("/household/")
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]

    def test_admin_is_sent_to_the_admin_area(self, app: Any, client: Any) -> None:
        assert login(client, ADMIN_PHONE).status_code == 302
        before = ledger_size(app)
        for response in (
            client.get("/household/"),
            client.post("/household/batches/new", data={**BATCH, "form_token": "x" * 32}),
        ):
            assert response.status_code == 302
            assert response.headers["Location"].endswith("/admin/")
        assert ledger_size(app) == before


class TestDashboard:
    def test_lists_batches_newest_first_with_step_counts(self, app: Any, member: Any) -> None:
        older = new_batch(member, product="Bưởi năm ngoái")
        newer = new_batch(member, product="Cam Vinh")
        record(member, older, "care", {"activity": "làm cỏ"})
        record(member, older, "spraying", SPRAYING)

        page = member.get("/household/")

        assert page.status_code == 200
        html = page.text
        assert html.index(newer) < html.index(older)
        assert "Cam Vinh" in html and "Bưởi năm ngoái" in html
        assert "2 steps" in html and "0 steps" in html
        assert 'href="/household/batches/new"' in html and "New batch" in html
        assert 'href="/household/profile"' in html
        assert "Nguyễn Văn An" in html

    def test_pages_past_the_end_are_empty(self, member: Any) -> None:
        new_batch(member)
        for page in ("2", "99999999999999999999"):
            html = member.get(f"/household/?page={page}").text
            assert "Newer batches" in html and "No batches yet" not in html

    def test_shows_only_the_households_batches(self, member: Any, other: Any) -> None:
        html = member.get("/household/").text
        assert other.code not in html and other.product not in html


class TestNewBatch:
    def test_form_is_rendered_from_the_batch_schema(self, member: Any) -> None:
        html = member.get("/household/batches/new").text
        for name, field in BatchSchema().fields.items():
            assert f'name="{name}"' in html
            assert str(field.metadata["label"]) in html
        assert '<option value="">Choose…</option>' in html and "<option>tấn</option>" in html
        assert f'type="date" value="{datetime.now(LOCAL_TZ).date().isoformat()}"' in html
        assert len(hidden(html, "form_token")) >= 16

    def test_creates_the_batch_and_shows_it(self, app: Any, member: Any) -> None:
        before = ledger_size(app)
        response = submit(
            member,
            "/household/batches/new",
            {**BATCH, "lot": "PT-2025.1", "gtin": "4006381333931"},
        )
        assert response.status_code == 302
        response = member.get(response.headers["Location"])
        assert response.status_code == 200
        html = response.text
        assert ledger_size(app) == before + 1
        assert "created" in html  # the flash message
        for shown in ("Bưởi Phúc Trạch", "Bưởi đường", "Vườn sau nhà", "quả", "1200 quả"):
            assert shown in html
        assert "PT-2025.1" in html and "04006381333931" in html
        assert START.strftime("%d/%m/%Y") in html
        for step_type in STEP_TYPES.values():  # one big button per step type
            assert f"/steps/{step_type.name}/new" in html

    def test_bad_gtin_is_refused_naming_the_field(self, app: Any, member: Any) -> None:
        before = ledger_size(app)
        response = submit(member, "/household/batches/new", {**BATCH, "gtin": "4006381333932"})
        assert response.status_code == 422
        assert 'id="gtin-error"' in response.text and "check digit" in response.text
        assert 'value="Vườn sau nhà"' in response.text  # what was typed is kept
        assert ledger_size(app) == before


class TestRecordStep:
    def test_every_step_type_has_a_form_from_its_schema(self, member: Any) -> None:
        code = new_batch(member)
        for kind, step_type in STEP_TYPES.items():
            html = member.get(f"/household/batches/{code}/steps/{kind}/new").text
            assert str(step_type.label) in html
            for name, field in step_type.form_fields():
                assert f'name="{name}"' in html
                assert str(field.metadata["label"]) in html
            assert PHOTO_INPUT in html and 'enctype="multipart/form-data"' in html

    def test_spraying_step_appears_with_its_seq(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        before = ledger_size(app)

        response = record(member, code, "spraying", SPRAYING)

        assert response.status_code == 302
        assert ledger_size(app) == before + 1
        [step] = steps_of(app, code)
        assert response.headers["Location"].endswith(f"/household/batches/{code}#step-{step.id}")
        assert step.kind == "spraying" and step.data["phi_days"] == 7
        page = member.get(f"/household/batches/{code}")
        assert f"Spraying recorded as ledger entry #{step.seq}." in page.text  # flashed
        item = article(page.text, step.id)
        assert "Spraying" in item and f"#{step.seq}" in item
        assert step.entry_hash.hex()[:12] in item
        assert "Boóc-đô" in item and "đồng sunfat" in item and "20 ml / bình 16 l" in item

    def test_harvest_with_a_photo(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        response = record(
            member,
            code,
            "harvest",
            {"quantity": "120.5", "note": "Hái buổi sáng", "photos": photo_upload(jpeg_bytes())},
            files=True,
        )
        assert response.status_code == 302, response.text
        [step] = steps_of(app, code)
        with app.app_context():
            [attached] = db.session.get(Step, step.id).photos
            full, thumb = attached.photo.sha256, attached.photo.thumb_sha256

        item = article(member.get(f"/household/batches/{code}").text, step.id)
        assert "Harvest" in item and f"#{step.seq}" in item
        assert "120.5 quả" in item and "Hái buổi sáng" in item
        assert f'src="/household/photos/{thumb}.jpg"' in item
        assert f'href="/household/photos/{full}.jpg"' in item
        for sha256 in (full, thumb):
            url = f"/household/photos/{sha256}.jpg"
            image = member.get(url)
            assert image.status_code == 200 and image.mimetype == "image/jpeg"
            assert image.data[:2] == b"\xff\xd8"
            assert "private" in image.headers["Cache-Control"]
            # Content-addressed: a phone that has it already is told so, and downloads nothing.
            again = member.get(url, headers={"If-None-Match": f'"{sha256}"'})
            assert again.status_code == 304 and again.data == b""

    def test_time_is_typed_and_shown_in_vietnam_time(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        local = datetime.now(LOCAL_TZ).replace(hour=8, minute=30, second=0, microsecond=0)
        local -= timedelta(days=2)
        typed = f"{local:%Y-%m-%dT%H:%M}"
        record(member, code, "care", {"activity": "tỉa cành", "occurred_at": typed})
        [step] = steps_of(app, code)
        assert step.occurred_at == local  # stored in UTC: 01:30Z
        assert step.occurred_at.utcoffset() == timedelta(0) and step.occurred_at.hour == 1
        item = article(member.get(f"/household/batches/{code}").text, step.id)
        assert f"{local:%d/%m/%Y} 08:30" in item

    def test_empty_time_means_now(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        record(member, code, "care", {"activity": "bón lót", "occurred_at": ""})
        [step] = steps_of(app, code)
        assert abs(step.occurred_at - datetime.now(LOCAL_TZ)) < timedelta(minutes=1)


class TestRetrySafety:
    def test_a_resent_step_form_records_once(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        url = f"/household/batches/{code}/steps/harvest/new"
        token = hidden(member.get(url).text, "form_token")
        before = ledger_size(app)

        locations = set()
        for _attempt in range(3):  # the same form sent again: a lost response, a double tap
            data = {"form_token": token, "quantity": "80", "photos": photo_upload(jpeg_bytes())}
            response = member.post(url, **multipart(data))
            assert response.status_code == 302
            locations.add(response.headers["Location"])

        assert ledger_size(app) == before + 1
        assert len(steps_of(app, code)) == 1 and len(locations) == 1

    def test_a_resent_batch_form_records_once(self, app: Any, member: Any) -> None:
        token = hidden(member.get("/household/batches/new").text, "form_token")
        before = ledger_size(app)
        first = member.post("/household/batches/new", data={**BATCH, "form_token": token})
        again = member.post("/household/batches/new", data={**BATCH, "form_token": token})
        assert first.status_code == again.status_code == 302
        assert first.headers["Location"] == again.headers["Location"]
        assert ledger_size(app) == before + 1

    def test_each_form_gets_a_new_token(self, member: Any) -> None:
        first = hidden(member.get("/household/batches/new").text, "form_token")
        second = hidden(member.get("/household/batches/new").text, "form_token")
        assert first != second

    def test_a_form_without_its_token_is_refused(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        before = ledger_size(app)
        response = member.post(f"/household/batches/{code}/steps/spraying/new", data=SPRAYING)
        assert response.status_code == 400
        assert "reload the page" in response.text
        assert ledger_size(app) == before


class TestCorrection:
    def test_a_reason_alone_is_shown_beside_the_step(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        record(member, code, "spraying", SPRAYING)
        [original] = steps_of(app, code)
        url = f"/household/steps/{original.id}/correct"
        form = member.get(url)
        assert form.status_code == 200
        assert 'value="Boóc-đô"' in form.text  # starts from the recorded values
        values = {name: field_value(form.text, name) for name in (*SPRAYING, "occurred_at")}
        before = ledger_size(app)

        response = member.post(
            url,
            data={
                **values,
                "reason": "Ghi nhầm liều",
                "note": "",
                "form_token": hidden(form.text, "form_token"),
            },
        )

        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"#step-{original.id}")
        assert ledger_size(app) == before + 1
        correction = steps_of(app, code)[-1]
        assert correction.kind == "correct" and "replacement" not in correction.data
        assert correction.data["corrects"]["seq"] == original.seq
        item = article(member.get(f"/household/batches/{code}").text, original.id)
        assert "Corrected" in item
        assert f'id="step-{correction.id}"' in item and "Ghi nhầm liều" in item
        assert f"#{correction.seq}" in item

    def test_corrected_values_are_shown(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        record(member, code, "spraying", SPRAYING)
        [original] = steps_of(app, code)

        response = submit(
            member,
            f"/household/steps/{original.id}/correct",
            {**SPRAYING, "phi_days": "14", "reason": "Thời gian cách ly là 14 ngày"},
        )

        assert response.status_code == 302
        correction = steps_of(app, code)[-1]
        assert correction.data["replacement"]["phi_days"] == 14
        item = article(member.get(f"/household/batches/{code}").text, original.id)
        original_html, correction_html = item.split(f'id="step-{correction.id}"')
        assert "<dt>Pre-harvest interval (days)</dt><dd>7</dd>" in original_html
        assert "Thời gian cách ly là 14 ngày" in correction_html
        # Of the replacement, only what changed is shown beside the original.
        assert "<dt>Pre-harvest interval (days)</dt><dd>14</dd>" in correction_html
        assert "Boóc-đô" not in correction_html

    def test_a_reason_is_required(self, app: Any, member: Any) -> None:
        code = new_batch(member)
        record(member, code, "care", {"activity": "tưới"})
        [original] = steps_of(app, code)
        before = ledger_size(app)
        response = submit(member, f"/household/steps/{original.id}/correct", {"reason": " "})
        assert response.status_code == 422
        assert 'id="reason-error"' in response.text and "What was wrong" in response.text
        assert ledger_size(app) == before


class TestProfile:
    def test_shows_the_profile(self, member: Any) -> None:
        html = member.get("/household/profile").text
        assert 'value="Nguyễn Văn An"' in html and 'value="Thôn Phúc Trạch"' in html
        assert "bưởi Phúc Trạch</textarea>" in html
        for name in ("bank_bin", "bank_account", "bank_account_name", "phone", "share_location"):
            assert f'name="{name}"' in html

    def test_saves_public_and_private_fields(self, app: Any, member: Any) -> None:
        form = member.get("/household/profile").text
        values = {name: field_value(form, name) for name in ("head_name", "hamlet", "commune")}
        before = ledger_size(app)
        response = member.post(
            "/household/profile",
            data={
                **values,
                "province": "Hà Tĩnh",
                "crops": "bưởi, cam",
                "certificates": "VietGAP 2024",
                "bank_bin": "970436",
                "bank_account": "0123456789",
                "bank_account_name": "NGUYEN VAN AN",
                "phone": "0912 345 678",
                "share_location": "1",
            },
        )
        assert response.status_code == 302
        assert ledger_size(app) == before + 1  # the public profile changed: signed
        with app.app_context():
            household = member_of(HOUSEHOLD_PHONES[0]).household
            assert household.crops == "bưởi, cam" and household.certificates == "VietGAP 2024"
            assert household.bank_account == "0123456789" and household.share_location
            assert household.phone == "+84912345678"
        html = member.get("/household/profile").text
        assert "Profile saved." in html and 'value="970436"' in html

    def test_over_long_or_empty_fields_are_refused(self, app: Any, member: Any) -> None:
        before = ledger_size(app)
        long_name = member.post("/household/profile", data={"head_name": "A" * 121})
        assert long_name.status_code == 422
        assert 'id="head_name-error"' in long_name.text and "120" in long_name.text
        empty = member.post("/household/profile", data={"head_name": ""})
        assert empty.status_code == 422 and 'id="head_name-error"' in empty.text
        assert ledger_size(app) == before
        with app.app_context():
            assert member_of(HOUSEHOLD_PHONES[0]).household.head_name == "Nguyễn Văn An"


class TestOtherHouseholdsAreRefused:
    @pytest.mark.parametrize(
        ("method", "url", "data"),
        [
            ("get", "/household/batches/{code}", None),
            ("get", "/household/batches/{code}/steps/harvest/new", None),
            ("post", "/household/batches/{code}/steps/harvest/new", {"quantity": "9"}),
            ("get", "/household/steps/{step_id}/correct", None),
            ("post", "/household/steps/{step_id}/correct", {"reason": "của tôi"}),
            ("get", "/household/photos/{photo}.jpg", None),
            ("get", "/household/photos/{thumb}.jpg", None),
        ],
    )
    def test_is_not_found(
        self, app: Any, member: Any, other: Any, method: str, url: str, data: Any
    ) -> None:
        before = ledger_size(app)
        if data is not None:
            data = {**data, "form_token": "t" * 32}
        response = getattr(member, method)(url.format(**vars(other)), data=data)
        assert response.status_code == 404
        assert other.product not in response.text and other.code not in response.text
        assert ledger_size(app) == before

    def test_the_owner_sees_them(self, app: Any, client: Any, other: Any) -> None:
        """The same requests work for household B: the refusals above are about ownership."""
        login(client, HOUSEHOLD_PHONES[1])
        assert other.product in client.get(f"/household/batches/{other.code}").text
        assert client.get(f"/household/photos/{other.thumb}.jpg").status_code == 200


class TestBadInput:
    @pytest.mark.parametrize(
        ("kind", "data", "field", "message"),
        [
            pytest.param(
                "spraying",
                {**SPRAYING, "product": ""},
                "product",
                "Missing data for required field.",
                id="missing-required",
            ),
            pytest.param(
                "harvest", {"quantity": "12.5.3"}, "quantity", "Not a valid number.", id="number"
            ),
            pytest.param(
                "spraying",
                {**SPRAYING, "phi_days": "bảy ngày"},
                "phi_days",
                "Not a valid integer.",
                id="text-in-integer",
            ),
            pytest.param(
                "spraying",
                {**SPRAYING, "dose": "x" * 201},
                "dose",
                "Length must be between 1 and 200.",
                id="over-long",
            ),
            pytest.param(
                "harvest",
                {
                    "quantity": "5",
                    "occurred_at": f"{datetime.now(LOCAL_TZ) + timedelta(days=1):%Y-%m-%dT%H:%M}",
                },
                "occurred_at",
                "A step cannot be recorded in the future.",
                id="future-time",
            ),
            pytest.param(
                "harvest", {"quantity": "-5"}, "quantity", "Must be greater than 0.", id="negative"
            ),
            pytest.param(
                "harvest",
                {"quantity": "5", "photos": (jpeg_bytes() + b"\0" * (10 * 1024 * 1024), "x.jpg")},
                "photos",
                "At most 10 MB per photo.",
                id="oversized-image",
            ),
            pytest.param(
                "harvest",
                {"quantity": "5", "photos": (b"this is not a photo\n" * 50, "fake.jpg")},
                "photos",
                "Use a JPEG, PNG, WebP or HEIC photo.",
                id="fake-image",
            ),
        ],
    )
    def test_is_refused_naming_the_field(
        self, app: Any, member: Any, kind: str, data: dict[str, Any], field: str, message: str
    ) -> None:
        code = new_batch(member)
        data = {
            name: photo_upload(*value) if name == "photos" else value
            for name, value in data.items()
        }
        before = ledger_size(app)

        response = record(member, code, kind, data, files=True)

        assert response.status_code == 422
        html = response.text
        assert f'<span class="error" id="{field}-error" role="alert">{message}</span>' in html
        shown = "Photos" if field == "photos" else label(kind, field)
        assert re.search(rf'<a href="#{field}">{re.escape(shown)}</a>: {re.escape(message)}', html)
        assert f'aria-describedby="{field}-error' in html
        assert ledger_size(app) == before
        assert steps_of(app, code) == []

    def test_typed_values_come_back(self, member: Any) -> None:
        code = new_batch(member)
        response = record(member, code, "spraying", {**SPRAYING, "phi_days": "-1"})
        assert response.status_code == 422
        assert 'value="20 ml / bình 16 l"' in response.text and 'value="-1"' in response.text

    @pytest.mark.parametrize("method", ["get", "post"])
    def test_unknown_step_type(self, app: Any, member: Any, method: str) -> None:
        code = new_batch(member)
        before = ledger_size(app)
        response = getattr(member, method)(
            f"/household/batches/{code}/steps/fumigation/new",
            data={"note": "x", "form_token": "t" * 32} if method == "post" else None,
        )
        assert response.status_code == 404
        assert "Unknown step type." in response.text and "kind" in response.text
        assert ledger_size(app) == before


class TestPageWeight:
    def test_pages_stay_under_100_kb(self, app: Any, member: Any) -> None:
        css = (Path(app.static_folder) / "app.css").read_bytes()
        codes = [new_batch(member, product=f"Bưởi lô {n}") for n in range(5)]
        code = codes[0]
        for n in range(12):
            record(member, code, "spraying", {**SPRAYING, "note": f"Lần phun {n}. " * 40})
        record(
            member,
            code,
            "harvest",
            {"quantity": "1", "photos": photo_upload(jpeg_bytes())},
            files=True,
        )
        first = steps_of(app, code)[0]
        submit(member, f"/household/steps/{first.id}/correct", {"reason": "Ghi nhầm " * 40})

        for url in (
            "/household/",
            f"/household/batches/{code}",
            f"/household/batches/{code}/steps/spraying/new",
            "/household/batches/new",
            "/household/profile",
        ):
            page = member.get(url)
            assert page.status_code == 200
            assert len(page.data) + len(css) < PAGE_BUDGET, url


class TestCsrf:
    def test_a_post_without_the_csrf_token_is_refused(
        self, app: Any, database_url: str, tmp_path: Path
    ) -> None:
        protected = create_app(app_config(database_url, tmp_path / "csrf-instance"))
        try:
            client = protected.test_client()
            page = client.get("/auth/login?lang=en")
            signed_in = client.post(
                "/auth/login",
                data={
                    "phone": HOUSEHOLD_PHONES[0],
                    "password": PASSWORD,
                    "csrf_token": hidden(page.text, "csrf_token"),
                },
            )
            assert signed_in.status_code == 302
            form = client.get("/household/batches/new").text
            before = ledger_size(protected)

            refused = client.post(
                "/household/batches/new",
                data={**BATCH, "form_token": hidden(form, "form_token")},
            )

            assert refused.status_code == 400
            assert "The form has expired" in refused.text
            assert ledger_size(protected) == before
            # The page's own form carries the token, and then the same post goes through.
            accepted = client.post(
                "/household/batches/new",
                data={
                    **BATCH,
                    "form_token": hidden(form, "form_token"),
                    "csrf_token": hidden(form, "csrf_token"),
                },
            )
            assert accepted.status_code == 302
            assert ledger_size(protected) == before + 1
        finally:
            with protected.app_context():
                db.session.remove()
                db.engine.dispose()

"""The public storefront: batch and household pages, GS1 Digital Link, QR codes, caching, and
the verdicts recomputed from the ledger (a tampered entry fails, the others still verify)."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select, text

from app.context import goc
from app.extensions import db
from app.models import Batch, Household, Step, User
from app.services.batches import correct_step, create_batch, record_step
from app.services.households import national_phone, normalise_phone, update_profile
from app.services.photos import prepare_photo
from tests.ledger.test_tamper import bypass
from tests.support import HOUSEHOLD_PHONES, jpeg_bytes

BASE = "http://goc.test"
PAGE_BUDGET = 100 * 1024  # HTML, its style sheets and its script, before photos
START = date.today() - timedelta(days=40)
GTIN13 = "8930000000019"  # 893: GS1 Vietnam; the check digit is right
SPRAYING = {
    "product": "Boóc-đô",
    "active_ingredient": "đồng sunfat",
    "dose": "20 ml / bình 16 l",
    "phi_days": "14",
}


def ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def member(n: int = 0) -> User:
    phone = normalise_phone(HOUSEHOLD_PHONES[n])
    user: User = db.session.scalar(select(User).where(User.phone == phone))
    return user


def new_batch(n: int = 0, **changes: str) -> Batch:
    data = {
        "product": "Bưởi Phúc Trạch",
        "variety": "Bưởi đường",
        "plot": "Vườn sau nhà",
        "unit": "quả",
        "start_date": START.isoformat(),
        **changes,
    }
    return create_batch(db.session, goc(), actor=member(n), data=data)


def step(batch: Batch, kind: str, data: dict[str, Any], *, photos: int = 0) -> Step:
    prepared = [
        prepare_photo(jpeg_bytes((40 + 30 * i, 120, 60)), keep_location=False)
        for i in range(photos)
    ]
    return record_step(
        db.session,
        goc(),
        actor=member(),
        batch=batch,
        kind=kind,
        data=data,
        photos=prepared,
    )


def article(html: str, step_id: int) -> str:
    start = html.index(f'id="step-{step_id}"')
    return html[start : html.index("</article>", start)]


@pytest.fixture
def showcase(app: Any) -> dict[str, Any]:
    """A batch with a GTIN: a spraying, a harvest inside its pre-harvest interval with a photo,
    a later harvest, and a correction of the first harvest's note."""
    with app.app_context():
        batch = new_batch(gtin=GTIN13, lot="PT-26-01")
        spraying = step(batch, "spraying", {**SPRAYING, "occurred_at": ago(30)})
        early = step(batch, "harvest", {"quantity": "120", "occurred_at": ago(25)}, photos=1)
        late = step(batch, "harvest", {"quantity": "80.5", "occurred_at": ago(5)})
        correct_step(
            db.session,
            goc(),
            actor=member(),
            step=early,
            data={"reason": "Ghi nhầm ghi chú", "quantity": "120", "occurred_at": ago(25),
                  "note": "Hái đợt đầu"},
        )  # fmt: skip
        return {
            "code": batch.code,
            "household": batch.household.code,
            "spraying": spraying.id,
            "early": early.id,
            "late": late.id,
            "photo": early.photos[0].photo_sha256,
            "thumb": early.photos[0].photo.thumb_sha256,
            "seqs": {"spraying": spraying.seq, "early": early.seq, "late": late.seq},
        }


class TestBatchPage:
    def test_shows_the_batch_the_producer_and_the_steps(self, client: Any, showcase: Any) -> None:
        response = client.get(f"/b/{showcase['code']}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        for shown in (
            "Bưởi Phúc Trạch",
            "Bưởi đường",
            "Vườn sau nhà",
            "PT-26-01",
            "0" + GTIN13,
            "Nguyễn Văn An",
            "Thôn Phúc Trạch",
            "Hương Khê",
            "Hà Tĩnh",
            "bưởi Phúc Trạch",
            "Boóc-đô",
            "200.5 quả",  # harvested in all
            "02/2024/TT-BKHCN",
        ):
            assert shown in html, shown
        assert 'href="/h/{}"'.format(showcase["household"]) in html
        assert len(re.findall(r'<li class="">', html)) >= 8  # Circular items present

    def test_every_entry_verifies_and_the_checkpoint_is_shown(
        self, app: Any, client: Any, showcase: Any
    ) -> None:
        html = client.get(f"/b/{showcase['code']}?lang=en").get_data(as_text=True)
        assert "Every entry of this batch is signed" in html
        assert "Verification failed" not in html
        # the batch entry, three steps and a correction
        assert html.count("✓ Verified") == 5
        with app.app_context():
            size = goc().ledger.size()
        assert f"Ledger checkpoint: {size} entries" in html

    def test_a_correction_is_shown_beside_the_step_it_corrects(
        self, client: Any, showcase: Any
    ) -> None:
        html = client.get(f"/b/{showcase['code']}?lang=en").get_data(as_text=True)
        early = article(html, showcase["early"])
        assert 'class="correction"' in early and "Ghi nhầm ghi chú" in early
        assert "Hái đợt đầu" in early
        assert 'class="correction"' not in article(html, showcase["late"])

    def test_a_harvest_inside_the_pre_harvest_interval_is_flagged(
        self, client: Any, showcase: Any
    ) -> None:
        html = client.get(f"/b/{showcase['code']}?lang=en").get_data(as_text=True)
        assert "before the pre-harvest interval of Boóc-đô" in article(html, showcase["early"])
        assert "pre-harvest interval" not in article(html, showcase["late"])
        assert "pre-harvest interval" not in article(html, showcase["spraying"])

    def test_photos_are_lazy_thumbnails_linking_to_the_full_photo(
        self, client: Any, showcase: Any
    ) -> None:
        html = client.get(f"/b/{showcase['code']}").get_data(as_text=True)
        thumb, full = f"/p/{showcase['thumb']}.jpg", f"/p/{showcase['photo']}.jpg"
        assert f'<a href="{full}"><img src="{thumb}"' in html
        assert 'loading="lazy"' in html
        for url in (thumb, full):
            response = client.get(url)
            assert response.status_code == 200
            assert response.mimetype == "image/jpeg"
            assert "public" in response.headers["Cache-Control"]

    def test_only_attached_photos_are_served(self, client: Any, showcase: Any) -> None:
        assert client.get(f"/p/{'0' * 64}.jpg").status_code == 404
        assert client.get("/p/not-a-digest.jpg").status_code == 404
        assert client.get("/p/../instance.jpg").status_code == 404

    def test_page_weight_stays_under_budget(self, app: Any, client: Any) -> None:
        with app.app_context():
            batch = new_batch()
            for n in range(26):
                step(
                    batch, "note", {"note": f"{n} " + "ghi chép dài " * 75, "occurred_at": ago(30)}
                )
            code = batch.code
        html = client.get(f"/b/{code}").data
        # one same-origin script (the device check), nothing inline, nothing from elsewhere
        [script] = re.findall(rb"<script[^>]*>", html)
        assert script == b'<script src="/storefront/static/verify.js" defer>'
        assert b"<style" not in html and b" style=" not in html
        assets = re.findall(rb'<link rel="stylesheet" href="([^"]+)"', html)
        assets.append(b"/storefront/static/verify.js")
        weight = len(html)
        for url in assets:
            with client.get(url.decode()) as asset:
                assert asset.status_code == 200, url
                weight += len(asset.data)
        assert weight < PAGE_BUDGET


class TestUnknownCodes:
    def test_unknown_batch_is_a_friendly_404(self, client: Any) -> None:
        response = client.get("/b/BNOSUCH")
        assert response.status_code == 404
        html = response.get_data(as_text=True)
        assert "BNOSUCH" in html
        assert 'lang="vi"' in html
        assert "Không tìm thấy" in html  # the page is in Vietnamese

    def test_unknown_household_and_qr(self, client: Any) -> None:
        for url in ("/h/HNOSUCH", "/b/BNOSUCH/qr.svg", "/h/HNOSUCH/qr.png", "/01/12345678/10/x"):
            assert client.get(url).status_code == 404, url


class TestDigitalLink:
    @pytest.mark.parametrize(
        "path",
        [
            "/01/0{gtin}/10/PT-26-01",
            "/01/{gtin}/10/PT-26-01",
            "/01/0{gtin}/10/PT-26-01?17=271231",
            "/01/0{gtin}/10/PT-26-01/21/000123",
            "/01/0{gtin}/10/PT-26-01?linkType=gs1:traceability&7007=260301",
        ],
    )
    def test_variants_serve_the_batch_page(self, client: Any, showcase: Any, path: str) -> None:
        response = client.get(path.format(gtin=GTIN13))
        assert response.status_code == 200
        assert showcase["code"] in response.get_data(as_text=True)

    def test_short_gtins_are_padded(self, app: Any, client: Any) -> None:
        with app.app_context():
            gtin8 = new_batch(gtin="02345673", lot="G8")
            gtin12 = new_batch(gtin="036000291452", lot="G12")
            codes = gtin8.code, gtin12.code
        assert codes[0] in client.get("/01/02345673/10/G8").get_data(as_text=True)
        assert codes[1] in client.get("/01/036000291452/10/G12").get_data(as_text=True)

    @pytest.mark.parametrize(
        "path", ["/01/8930000000018/10/PT-26-01", "/01/0{gtin}/10/OTHER", "/01/89x/10/PT-26-01"]
    )
    def test_wrong_check_digit_or_lot_is_not_found(
        self, client: Any, showcase: Any, path: str
    ) -> None:
        assert client.get(path.format(gtin=GTIN13)).status_code == 404


def decode(png: bytes) -> str:
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return found.text


class TestQrCodes:
    def test_batch_qr_carries_the_digital_link(self, client: Any, showcase: Any) -> None:
        response = client.get(f"/b/{showcase['code']}/qr.png?size=400")
        assert response.status_code == 200 and response.mimetype == "image/png"
        url = decode(response.data)
        assert url == f"{BASE}/01/0{GTIN13}/10/PT-26-01"
        page = client.get(url.removeprefix(BASE))
        assert page.status_code == 200
        assert f"<dd>{showcase['code']}</dd>" in page.get_data(as_text=True)

    def test_batch_without_gtin_links_to_its_code(self, app: Any, client: Any) -> None:
        with app.app_context():
            code = new_batch().code
        url = decode(client.get(f"/b/{code}/qr.png").data)
        assert url == f"{BASE}/b/{code}"
        assert f"<dd>{code}</dd>" in client.get(url.removeprefix(BASE)).get_data(as_text=True)

    def test_household_qr_opens_the_household_page(self, client: Any, showcase: Any) -> None:
        url = decode(client.get(f"/h/{showcase['household']}/qr.png").data)
        assert url == f"{BASE}/h/{showcase['household']}"
        page = client.get(url.removeprefix(BASE)).get_data(as_text=True)
        assert "Nguyễn Văn An" in page
        assert f"/b/{showcase['code']}" in page

    def test_svg_and_bounded_png_sizes(self, client: Any, showcase: Any) -> None:
        svg = client.get(f"/b/{showcase['code']}/qr.svg")
        assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
        tiny = Image.open(io.BytesIO(client.get(f"/b/{showcase['code']}/qr.png?size=1").data))
        huge = Image.open(io.BytesIO(client.get(f"/b/{showcase['code']}/qr.png?size=99999").data))
        assert 60 <= tiny.width <= 200
        assert huge.width <= 1200
        decode(client.get(f"/b/{showcase['code']}/qr.png?size=1").data)

    def test_qr_error_correction_is_q(self, client: Any, showcase: Any) -> None:
        [found] = zxingcpp.read_barcodes(
            Image.open(io.BytesIO(client.get(f"/b/{showcase['code']}/qr.png").data))
        )
        assert found.ec_level == "Q"


class TestCaching:
    def test_etag_gives_304_until_the_ledger_grows(
        self, app: Any, client: Any, showcase: Any
    ) -> None:
        url = f"/b/{showcase['code']}"
        first = client.get(url)
        etag = first.headers["ETag"]
        assert "public" in first.headers["Cache-Control"]
        assert "max-age" in first.headers["Cache-Control"]
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and not again.data
        assert again.headers["ETag"] == etag
        with app.app_context():
            batch = db.session.scalar(select(Batch).where(Batch.code == showcase["code"]))
            step(batch, "note", {"note": "Thêm một bước"})
        after = client.get(url, headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["ETag"] != etag

    def test_household_page_is_cacheable(self, client: Any, showcase: Any) -> None:
        first = client.get(f"/h/{showcase['household']}")
        again = client.get(
            f"/h/{showcase['household']}", headers={"If-None-Match": first.headers["ETag"]}
        )
        assert again.status_code == 304

    def test_language_changes_the_etag(self, client: Any, showcase: Any) -> None:
        vi = client.get(f"/b/{showcase['code']}?lang=vi").headers["ETag"]
        en = client.get(f"/b/{showcase['code']}?lang=en").headers["ETag"]
        assert vi != en


class TestPrivacy:
    def test_no_phone_or_bank_account_on_public_pages(
        self, app: Any, client: Any, showcase: Any
    ) -> None:
        with app.app_context():
            for n in (0, 1):
                user = member(n)
                update_profile(
                    db.session,
                    goc(),
                    actor=user,
                    household=user.household,
                    public={},
                    private={
                        "bank_bin": "970436",
                        "bank_account": f"00710004{n}5678",
                        "bank_account_name": "NGUYEN VAN AN",
                    },
                )
            households = list(db.session.scalars(select(Household)))
            secrets = set()
            for household in households:
                e164 = household.phone
                national = national_phone(e164)
                secrets |= {e164, e164[1:], national, national.replace(" ", ""), e164[3:]}
                secrets |= {household.bank_account, household.bank_account_name}
            household_codes = [h.code for h in households]
            batch_codes = list(db.session.scalars(select(Batch.code)))
        assert all(secrets)
        urls = [f"/h/{c}" for c in household_codes] + [f"/b/{c}" for c in batch_codes]
        urls.append(f"/01/0{GTIN13}/10/PT-26-01")
        urls += [f"/b/{c}/labels?per_page=40" for c in batch_codes]
        urls += ["/", "/?q=nguyen+van+an", "/?commune=Hương+Khê"]  # the marketplace
        for url in urls:
            for lang in ("vi", "en"):
                response = client.get(f"{url}{'&' if '?' in url else '?'}lang={lang}")
                assert response.status_code == 200, url
                html = response.get_data(as_text=True)
                # a number written with spaces, dots or dashes between its digits
                squeezed = re.sub(r"(?<=\d)[\s.\-]+(?=\d)", "", html)
                for secret in secrets:
                    assert secret not in html, (url, secret)
                    assert secret not in squeezed, (url, secret)


class TestTamper:
    def test_a_flipped_byte_fails_only_that_step(
        self, app: Any, client: Any, showcase: Any
    ) -> None:
        seq = showcase["seqs"]["late"]
        with app.app_context():
            engine = goc().ledger.engine
            original = goc().ledger.entry(seq).statement.data
        assert original.count(b"80.5") == 1
        changed = original.replace(b"80.5", b"90.5")
        with bypass(engine) as conn:
            conn.execute(
                text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
                {"d": changed, "s": seq},
            )
        try:
            html = client.get(f"/b/{showcase['code']}?lang=en").get_data(as_text=True)
        finally:
            with bypass(engine) as conn:
                conn.execute(
                    text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
                    {"d": original, "s": seq},
                )
        assert "Part of this record failed verification" in html
        late = article(html, showcase["late"])
        assert "Verification failed" in late
        assert "Signature does not verify" in late
        assert "Entry hash or chain link does not match" in late
        for other in ("spraying", "early"):
            part = article(html, showcase[other])
            assert "✓ Verified" in part and "Verification failed" not in part
        restored = client.get(f"/b/{showcase['code']}?lang=en").get_data(as_text=True)
        assert "Verification failed" not in restored

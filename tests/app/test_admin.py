"""The co-op admin pages: access, enrolling, keys, profiles and the hamlet's indicators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.context import goc
from app.errors import Conflict
from app.extensions import db
from app.models import Household, HouseholdKey, Step, User
from app.models._types import utcnow
from app.services.batches import create_batch, record_step
from app.services.hamlet import Share, indicators
from app.services.households import enroll_household, normalise_phone, update_profile
from ledger import LogVerifier
from ledger.schema import entries
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, PASSWORD, login


@pytest.fixture(autouse=True)
def english(client: Any) -> None:
    """These tests read English page text; the choice survives logging in."""
    client.get("/auth/login?lang=en")


BATCH = {
    "product": "Bưởi Phúc Trạch",
    "variety": "Ruột hồng",
    "plot": "Vườn đồi lô 2",
    "unit": "quả",
    "expected_quantity": "2400",
    "start_date": "2025-01-15",
}


def user(phone: str) -> User:
    found = db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))
    assert found is not None
    return found


def household(phone: str) -> Household:
    found = user(phone).household
    assert found is not None
    return found


def admin_pages(code: str) -> list[str]:
    return [
        "/admin/",
        "/admin/households/new",
        f"/admin/households/{code}",
        f"/admin/households/{code}/edit",
    ]


def a_step(phone: str, note: str = "Làm cỏ") -> Step:
    """A new batch of the household with one care step, recorded as the household."""
    member = user(phone)
    batch = create_batch(db.session, goc(), actor=member, data=BATCH)
    return record_step(
        db.session, goc(), actor=member, batch=batch, kind="care", data={"activity": note}
    )


def signer_of(step: Step) -> str:
    key_id: str = db.session.scalar(select(entries.c.key_id).where(entries.c.seq == step.seq))
    return key_id


def verify_whole_log() -> str:
    verifier = LogVerifier(
        log_key=goc().ledger.log_signer.verifier,
        authority_keys=[goc().authority.verifier],
        workers=0,
    )
    return verifier.verify_log(goc().ledger.iter_log()).line()


class TestAccess:
    def test_pages_render_for_the_admin(self, app: Any, client: Any) -> None:
        with app.app_context():
            code = household(HOUSEHOLD_PHONES[0]).code
        login(client, ADMIN_PHONE)
        for path in admin_pages(code):
            response = client.get(path)
            assert response.status_code == 200, path
        overview = client.get("/admin/").get_data(as_text=True)
        assert "Nguyễn Văn An" in overview and "Trần Thị Bình" in overview

    def test_households_are_refused(self, app: Any, client: Any) -> None:
        with app.app_context():
            code = household(HOUSEHOLD_PHONES[1]).code
        login(client, HOUSEHOLD_PHONES[0])
        for path in admin_pages(code):
            assert client.get(path).status_code == 403, path
        form = {"head_name": "X", "phone": "0912000999", "password": PASSWORD}
        assert client.post("/admin/households/new", data=form).status_code == 403
        assert (
            client.post(f"/admin/households/{code}/key/revoke", data={"reason": "x"}).status_code
            == 403
        )
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Household)) == 2
            assert household(HOUSEHOLD_PHONES[1]).active_key is not None

    def test_anonymous_visitors_are_sent_to_log_in(self, app: Any, client: Any) -> None:
        with app.app_context():
            code = household(HOUSEHOLD_PHONES[0]).code
        for path in admin_pages(code):
            response = client.get(path)
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/auth/login?next=")
        response = client.post(f"/admin/households/{code}/key/reissue", data={"reason": "x"})
        assert response.status_code == 302
        with app.app_context():
            assert len(household(HOUSEHOLD_PHONES[0]).keys) == 1

    def test_unknown_household_is_404(self, client: Any) -> None:
        login(client, ADMIN_PHONE)
        assert client.get("/admin/households/HNOSUCH").status_code == 404


ENROLL = {
    "head_name": "Lê Văn Cường",
    "hamlet": "Thôn Tân Hương",
    "commune": "Phúc Trạch",
    "province": "Hà Tĩnh",
    "crops": "Rau cải ngọt, cải bẹ xanh",
    "sanitation": "Nhà tiêu tự hoại",
    "waste_treatment": "Ủ phân compost",
    "certificates": "VietGAP",
    "member_name": "Lê Thị Dung",
    "phone": "0912 000 303",
    "password": "mật-khẩu-mới-123",
    "share_location": "1",
}


class TestEnroll:
    def test_enrolled_household_can_log_in(self, app: Any, client: Any) -> None:
        login(client, ADMIN_PHONE)
        response = client.post("/admin/households/new", data=ENROLL)
        assert response.status_code == 302
        with app.app_context():
            enrolled = household("0912000303")
            assert response.headers["Location"] == f"/admin/households/{enrolled.code}"
            assert enrolled.head_name == "Lê Văn Cường"
            assert enrolled.crops == "Rau cải ngọt, cải bẹ xanh"
            assert enrolled.share_location is True
            assert enrolled.active_key is not None
            assert user("0912000303").name == "Lê Thị Dung"
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Lê Văn Cường" in page and "is enrolled" in page
        client.post("/auth/logout")
        response = login(client, "0912000303", "mật-khẩu-mới-123")
        assert response.status_code == 302
        assert response.headers["Location"] == "/household/"

    def test_refused_input_is_shown_again_with_messages(self, app: Any, client: Any) -> None:
        login(client, ADMIN_PHONE)
        for field, value in [
            ("phone", "12345"),
            ("phone", HOUSEHOLD_PHONES[0]),  # already in use
            ("password", "short"),
            ("head_name", " "),
            ("commune", "x" * 121),
        ]:
            response = client.post("/admin/households/new", data={**ENROLL, field: value})
            assert response.status_code == 422, field
            page = response.get_data(as_text=True)
            assert f'id="{field}-error"' in page, field
            assert "mật-khẩu-mới-123" not in page  # the password is never sent back
            if field != "head_name":
                assert "Lê Văn Cường" in page
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Household)) == 2


class TestKeys:
    def test_reissue_keeps_old_entries_valid_and_signs_new_steps(
        self, app: Any, client: Any
    ) -> None:
        phone = HOUSEHOLD_PHONES[0]
        with app.app_context():
            old_step = a_step(phone)
            target = household(phone)
            code, old_key = target.code, target.active_key.key_id
            assert signer_of(old_step) == old_key
        login(client, ADMIN_PHONE)
        response = client.post(
            f"/admin/households/{code}/key/reissue", data={"reason": "Điện thoại mới"}
        )
        assert response.status_code == 302
        assert "A new signing key is active" in client.get(f"/admin/households/{code}").get_data(
            as_text=True
        )
        with app.app_context():
            old = db.session.scalar(select(HouseholdKey).where(HouseholdKey.key_id == old_key))
            assert old.revoked_at is not None and old.revoked_seq is not None
            new = household(phone).active_key
            assert new is not None and new.key_id != old_key
            assert new.registered_seq == old.revoked_seq + 1
            new_step = a_step(phone, "Tỉa cành")
            assert signer_of(new_step) == new.key_id
            assert goc().ledger.key(old_key).revoked_seq == old.revoked_seq
            summary = verify_whole_log()
            assert summary.startswith(f"OK: {new_step.seq + 1} entries")

    def test_revoke_stops_signing_until_reissued(self, app: Any, client: Any) -> None:
        phone = HOUSEHOLD_PHONES[1]
        with app.app_context():
            code = household(phone).code
        login(client, ADMIN_PHONE)
        response = client.post(f"/admin/households/{code}/key/revoke", data={"reason": "Mất máy"})
        assert response.status_code == 302
        page = client.get(f"/admin/households/{code}").get_data(as_text=True)
        assert "No active key" in page
        with app.app_context():
            assert household(phone).active_key is None
            with pytest.raises(Conflict):
                a_step(phone)
        again = client.post(f"/admin/households/{code}/key/revoke", data={"reason": "Mất máy"})
        assert again.status_code == 409
        assert (
            client.post(
                f"/admin/households/{code}/key/reissue", data={"reason": "Máy mới"}
            ).status_code
            == 302
        )
        with app.app_context():
            assert signer_of(a_step(phone)) == household(phone).active_key.key_id
            assert verify_whole_log().startswith("OK:")

    def test_a_reason_is_required(self, app: Any, client: Any) -> None:
        with app.app_context():
            code = household(HOUSEHOLD_PHONES[0]).code
        login(client, ADMIN_PHONE)
        for action in ("reissue", "revoke"):
            for reason in ("", "  ", "x" * 201):
                response = client.post(
                    f"/admin/households/{code}/key/{action}", data={"reason": reason}
                )
                assert response.status_code == 422
                assert f'id="{action}-error"' in response.get_data(as_text=True)
        with app.app_context():
            assert len(household(HOUSEHOLD_PHONES[0]).keys) == 1


class TestProfile:
    def test_edit_profile_signs_a_profile_statement(self, app: Any, client: Any) -> None:
        phone = HOUSEHOLD_PHONES[0]
        with app.app_context():
            target = household(phone)
            code = target.code
            form = {**target.public_profile(), "phone": "0987 654 321"}
            size = goc().ledger.size()
        form.update(certificates="VietGAP 2025", sanitation="Nhà tiêu tự hoại")
        login(client, ADMIN_PHONE)
        assert client.get(f"/admin/households/{code}/edit").status_code == 200
        response = client.post(f"/admin/households/{code}/edit", data=form)
        assert response.status_code == 302
        with app.app_context():
            changed = household(phone)
            assert changed.certificates == "VietGAP 2025"
            assert changed.phone == "+84987654321"
            assert changed.share_location is False
            [entry] = goc().ledger.entries(size)
            statement = entry.statement.parse()
            assert statement.kind == "household.profile"
            assert statement.body["certificates"] == "VietGAP 2025"
            assert statement.key == goc().authority.key_id

    def test_refused_edit_changes_nothing(self, app: Any, client: Any) -> None:
        with app.app_context():
            target = household(HOUSEHOLD_PHONES[0])
            code, form = target.code, target.public_profile()
        login(client, ADMIN_PHONE)
        response = client.post(
            f"/admin/households/{code}/edit", data={**form, "head_name": "", "crops": "Cam"}
        )
        assert response.status_code == 422
        assert 'id="head_name-error"' in response.get_data(as_text=True)
        with app.app_context():
            assert household(HOUSEHOLD_PHONES[0]).crops == "bưởi Phúc Trạch"


class TestIndicators:
    def test_known_data(self, app: Any, client: Any) -> None:
        """Four households: A logged today, B only 40 days ago, C and D never.
        A and C have a payout account, D only half of one."""
        with app.app_context():
            admin = user(ADMIN_PHONE)
            for phone, head in (("0912000303", "Hộ C"), ("0912000404", "Hộ D")):
                enroll_household(
                    db.session,
                    goc(),
                    actor=admin,
                    profile={"head_name": head},
                    phone=phone,
                    password=PASSWORD,
                    member_name=head,
                )
            a_step(HOUSEHOLD_PHONES[0])
            old = a_step(HOUSEHOLD_PHONES[1])
            db.session.execute(
                update(Step)
                .where(Step.id == old.id)
                .values(created_at=utcnow() - timedelta(days=40))
            )
            db.session.commit()
            account = {"bank_bin": "970405", "bank_account": "3704205123456"}
            for phone, name in (
                (HOUSEHOLD_PHONES[0], "NGUYEN VAN AN"),
                ("0912000303", "LE VAN C"),
                ("0912000404", ""),
            ):
                update_profile(
                    db.session,
                    goc(),
                    actor=user(phone),
                    household=household(phone),
                    public={},
                    private={**account, "bank_account_name": name},
                )
            found = indicators(db.session)
            assert found.households == 4
            assert found.batches == 2 and found.steps == 2
            assert found.active == Share(1, 4) and found.active.percent == 25
            assert found.payout == Share(2, 4) and found.payout.percent == 50
            # as they stood 20 days ago: B had logged 20 days before, A not yet
            earlier = indicators(db.session, now=utcnow() - timedelta(days=20))
            assert earlier.active == Share(1, 4)
        login(client, ADMIN_PHONE)
        page = client.get("/admin/").get_data(as_text=True)
        assert "25%" in page and "1 of 4 households" in page
        assert "50%" in page and "2 of 4 households" in page

    @pytest.mark.parametrize(
        ("count", "total", "percent"),
        [(0, 0, 0), (0, 3, 0), (1, 3, 33), (2, 3, 67), (1, 8, 13), (3, 3, 100)],
    )
    def test_percentages_round_half_up(self, count: int, total: int, percent: int) -> None:
        assert Share(count, total).percent == percent

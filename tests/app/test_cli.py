"""``flask --app wsgi`` commands, run through the app's CLI runner on each backend."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app import create_app
from app.demo import DEMO_PASSWORD, HOUSEHOLDS, drawing
from app.extensions import db
from app.models import (
    ApiToken,
    Batch,
    Household,
    HouseholdKey,
    Photo,
    Role,
    Step,
    StepPhoto,
    User,
)
from app.services.accounts import user_for_token
from app.services.batches import MAX_BACKDATE
from app.steps import gtin14
from ledger.schema import entries
from tests.ledger.test_tamper import bypass
from tests.support import ADMIN_PHONE, PASSWORD, app_config, login

MODELS = (User, Household, HouseholdKey, Batch, Step, Photo, StepPhoto)


def run(app: Any, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def counts(app: Any) -> dict[str, int]:
    with app.app_context():
        found = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in MODELS
        }
        found["entries"] = db.session.scalar(select(func.count()).select_from(entries))
        return found


class TestAccounts:
    def test_create_admin(self, app: Any, client: Any) -> None:
        result = run(app, "create-admin", "--phone", "0912 000 777", "--name", "Tổ CNS",
                     "--password", "mật-khẩu-quản-trị")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "+84912000777" in result.output
        with app.app_context():
            created = db.session.scalar(select(User).where(User.phone == "+84912000777"))
            assert created.role is Role.ADMIN and created.name == "Tổ CNS"
        response = login(client, "0912000777", "mật-khẩu-quản-trị")
        assert response.headers["Location"] == "/admin/"

    def test_create_admin_prompts_for_the_password(self, app: Any, client: Any) -> None:
        result = run(app, "create-admin", "--phone", "0912000777", "--name", "Tổ CNS",
                     input="mật-khẩu-quản-trị\nmật-khẩu-quản-trị\n")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "mật-khẩu-quản-trị" not in result.output
        assert login(client, "0912000777", "mật-khẩu-quản-trị").status_code == 302

    @pytest.mark.parametrize(
        ("phone", "password", "message"),
        [
            (ADMIN_PHONE, "mật-khẩu-quản-trị", "đã có người dùng"),
            ("12", "mật-khẩu-quản-trị", "phone"),
            ("0912000777", "short", "password"),
        ],
    )
    def test_create_admin_refused(self, app: Any, phone: str, password: str, message: str) -> None:
        result = run(app, "create-admin", "--phone", phone, "--name", "X", "--password", password)
        assert result.exit_code == 1
        assert message in result.stderr
        assert counts(app)["User"] == 3

    def test_enroll_household(self, app: Any, client: Any) -> None:
        result = run(app, "enroll-household", "--phone", "0912000303",
                     "--head-name", "Lâm Văn Tài", "--province", "Sóc Trăng",
                     "--crops", "Lúa ST25", "--certificates", "VietGAP",
                     "--share-location", "--password", PASSWORD)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        with app.app_context():
            member = db.session.scalar(select(User).where(User.phone == "+84912000303"))
            household = member.household
            assert household.code in result.output
            assert (household.head_name, household.province) == ("Lâm Văn Tài", "Sóc Trăng")
            assert (household.crops, household.certificates) == ("Lúa ST25", "VietGAP")
            assert household.share_location and household.active_key is not None
            assert member.name == "Lâm Văn Tài"
        assert login(client, "0912000303").headers["Location"] == "/household/"

    def test_enroll_household_needs_an_admin(self, app: Any) -> None:
        result = run(app, "enroll-household", "--phone", "0912000303", "--head-name", "A",
                     "--admin", "0912000101", "--password", PASSWORD)  # fmt: skip
        assert result.exit_code == 1 and "not a co-op admin" in result.stderr
        result = run(app, "enroll-household", "--phone", "0912000101", "--head-name", "A",
                     "--password", PASSWORD)  # fmt: skip
        assert (
            result.exit_code == 1 and "đã có người dùng" in result.stderr
        )  # operators read Vietnamese
        assert counts(app)["Household"] == 2

    def test_issue_token(self, app: Any) -> None:
        result = run(app, "issue-token", "0912 000 101", "--label", "điện thoại")
        assert result.exit_code == 0, result.stderr
        token = result.stdout.strip()
        assert token.startswith("goc_") and "cannot be shown again" in result.stderr
        with app.app_context():
            assert user_for_token(db.session, token).phone == "+84912000101"
            [stored] = db.session.scalars(select(ApiToken)).all()
            assert stored.label == "điện thoại" and token not in stored.token_hash
        missing = run(app, "issue-token", "0912000999")
        assert missing.exit_code == 1 and "No account" in missing.stderr


class TestDemo:
    def test_seed_demo_twice_adds_nothing_the_second_time(self, app: Any, client: Any) -> None:
        before = counts(app)
        first = run(app, "seed-demo")
        assert first.exit_code == 0, first.stderr
        seeded = counts(app)
        assert seeded["Household"] - before["Household"] == 3
        assert seeded["User"] - before["User"] == 4
        assert seeded["Batch"] == 5
        assert seeded["Step"] == sum(len(b.steps) for h in HOUSEHOLDS for b in h.batches)
        assert seeded["StepPhoto"] == 4 and seeded["Photo"] == 4

        second = run(app, "seed-demo")
        assert second.exit_code == 0, second.stderr
        assert "nothing to add" in second.output
        assert counts(app) == seeded

        for output in (first.output, second.output):
            assert DEMO_PASSWORD in output
            for phone in ("0901 234 500", "0901 234 501", "0901 234 502", "0901 234 503"):
                assert phone in output
        with app.app_context():
            showcase = db.session.scalar(select(Batch).where(Batch.gtin.is_not(None)))
            assert f"http://goc.test/b/{showcase.code}" in first.output
        for phone in ("0901234500", "0901234501"):
            assert login(client, phone, DEMO_PASSWORD).status_code == 302
            client.post("/auth/logout")

        verified = run(app, "verify-ledger", "--workers", "0")
        assert verified.exit_code == 0, verified.stderr
        assert verified.output.startswith(f"OK: {seeded['entries']} entries")

    def test_demo_data_is_realistic(self, app: Any) -> None:
        assert run(app, "seed-demo").exit_code == 0
        with app.app_context():
            batches = db.session.scalars(select(Batch)).all()
            assert {b.product for b in batches} >= {"Bưởi Phúc Trạch", "Gạo ST25", "Rau cải ngọt"}
            [with_gtin] = [b for b in batches if b.gtin]
            assert gtin14(with_gtin.gtin) == with_gtin.gtin
            provinces = set(db.session.scalars(select(Household.province)))
            assert {"Hà Tĩnh", "Sóc Trăng"} <= provinces
            for batch in batches:
                steps = batch.steps
                assert steps, batch.product
                harvests = [s.occurred_at for s in steps if s.kind == "harvest"]
                for spraying in (s for s in steps if s.kind == "spraying"):
                    # every harvest respects the pre-harvest interval of every spraying
                    waiting = timedelta(days=spraying.data["phi_days"])
                    assert all(h >= spraying.occurred_at + waiting for h in harvests)
            kinds = {s.kind for s in db.session.scalars(select(Step))}
            assert kinds >= {"planting", "fertilising", "spraying", "irrigation", "care",
                             "harvest", "packing", "inspection"}  # fmt: skip

    def test_demo_steps_fit_the_recording_rules(self) -> None:
        """Back-dated within a year, never in the future, after the batch start."""
        for spec in (b for h in HOUSEHOLDS for b in h.batches):
            assert spec.days_ago * timedelta(days=1) < MAX_BACKDATE
            assert all(0 <= step.day < spec.days_ago for step in spec.steps), spec.lot

    def test_a_later_run_on_another_day_still_adds_nothing(self, app: Any) -> None:
        assert run(app, "seed-demo").exit_code == 0
        seeded = counts(app)
        with app.app_context():  # as if the first run had happened three days earlier
            for batch in db.session.scalars(select(Batch)):
                shift = timedelta(days=3)
                db.session.execute(
                    update(Batch)
                    .where(Batch.id == batch.id)
                    .values(start_date=batch.start_date - shift)
                )
                for step in batch.steps:
                    db.session.execute(
                        update(Step)
                        .where(Step.id == step.id)
                        .values(occurred_at=step.occurred_at - shift)
                    )
            db.session.commit()
        assert run(app, "seed-demo").exit_code == 0
        assert counts(app) == seeded

    def test_photos_are_drawn_the_same_every_time(self) -> None:
        assert drawing("rice_field") == drawing("rice_field")
        assert drawing("rice_field") != drawing("greens")

    def test_seed_demo_refuses_production(self, database_url: str, tmp_path: Path) -> None:
        production = create_app(
            app_config(database_url, tmp_path / "instance", GOC_ENV="production")
        )
        result = run(production, "seed-demo")
        assert result.exit_code == 1 and "production" in result.stderr
        assert counts(production)["User"] == 0
        with production.app_context():
            db.engine.dispose()


class TestVerifyLedger:
    def test_passes_on_a_fresh_hamlet(self, app: Any) -> None:
        result = run(app, "verify-ledger", "--workers", "0")
        assert result.exit_code == 0, result.stderr
        assert result.output.startswith("OK: ")

    def test_fails_on_tampering(self, app: Any) -> None:
        assert run(app, "seed-demo").exit_code == 0
        with app.app_context():  # the operator rewrites a harvest behind the app's back
            harvest = db.session.scalar(select(Step).where(Step.kind == "harvest").limit(1))
            seq, quantity = harvest.seq, harvest.data["quantity"]
            db.session.remove()
            with bypass(db.engine) as conn:
                row = conn.execute(select(entries).where(entries.c.seq == seq)).one()
                forged = row.statement.replace(
                    f'"quantity":"{quantity}"'.encode(), f'"quantity":"9{quantity}"'.encode()
                )
                assert forged != row.statement
                conn.execute(update(entries).where(entries.c.seq == seq).values(statement=forged))
        result = run(app, "verify-ledger", "--workers", "0")
        assert result.exit_code == 1
        assert result.stderr.startswith("FAIL:")
        assert str(seq) in result.stderr
        with app.app_context(), bypass(db.engine) as conn:  # put it back for the final check
            conn.execute(
                update(entries).where(entries.c.seq == seq).values(statement=row.statement)
            )
        assert run(app, "verify-ledger", "--workers", "0").exit_code == 0

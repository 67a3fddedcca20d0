"""After real flows through the app, the standalone verifier accepts the app's database."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from sqlalchemy import select

from app.context import goc
from app.extensions import db
from app.models import Household, User
from app.services.batches import correct_step, create_batch, record_step
from app.services.households import reissue_key, update_profile
from app.services.photos import prepare_photo
from tests.support import ROOT, jpeg_bytes


def test_python_m_ledger_verify_accepts_the_app_database(app: Any) -> None:
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.household_id.is_(None)))
        member = db.session.scalar(select(User).where(User.household_id.is_not(None)))
        batch = create_batch(
            db.session,
            goc(),
            actor=member,
            data={
                "product": "Gạo ST25",
                "unit": "kg",
                "start_date": "2026-06-01",
                "gtin": "8938505974194",
            },
        )
        step = record_step(
            db.session,
            goc(),
            actor=member,
            batch=batch,
            kind="fertilising",
            data={"product": "NPK 16-16-8", "amount": "25", "amount_unit": "kg"},
            photos=[prepare_photo(jpeg_bytes(), keep_location=False)],
        )
        correct_step(
            db.session,
            goc(),
            actor=member,
            step=step,
            data={
                "reason": "Sai lượng",
                "product": "NPK 16-16-8",
                "amount": "20",
                "amount_unit": "kg",
            },
        )
        household = db.session.get(Household, member.household_id)
        reissue_key(db.session, goc(), actor=admin, household=household, reason="mất điện thoại")
        record_step(
            db.session, goc(), actor=member, batch=batch, kind="harvest", data={"quantity": "1200"}
        )
        update_profile(
            db.session,
            goc(),
            actor=member,
            household=household,
            public={"sanitation": "Nhà vệ sinh tự hoại"},
            private={},
        )
        url = db.engine.url.render_as_string(hide_password=False)
        log_key = goc().ledger.log_signer.verifier.vkey()
        authority = goc().authority.verifier.vkey()
        size = goc().ledger.size()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger",
            "verify",
            url,
            "--log-key",
            log_key,
            "--authority-key",
            authority,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: {size} entries")

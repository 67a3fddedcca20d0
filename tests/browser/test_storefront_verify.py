"""A buyer on a 360x740 phone opens a batch page: its script re-checks the batch's ledger bundle
in the browser (WebCrypto SHA-256 and Ed25519) and says "verified on this device"; after an entry
is tampered with in the database, that step fails both in the server's and in the browser's
verdict; a browser without Ed25519 falls back to the server's verdict and says so."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, text

from app.context import goc
from app.extensions import db
from app.models import Batch, Role, User
from app.services.households import reissue_key
from app.services.ledger_statements import household_signer
from tests.ledger.test_tamper import bypass
from tests.storefront.test_pages import SPRAYING, ago, new_batch, step
from tests.storefront.test_verification import resign, tampered

ON_DEVICE = "Đã kiểm chứng trên thiết bị này"
FAILED_ON_DEVICE = "Kiểm chứng trên thiết bị này thất bại"
SERVER_FAILED = "Xác thực không thành công"
NO_ED25519 = """
const importKey = SubtleCrypto.prototype.importKey;
SubtleCrypto.prototype.importKey = function (format, key, algorithm, ...rest) {
  if ((algorithm && algorithm.name) === "Ed25519") {
    return Promise.reject(new DOMException("Ed25519 is not supported", "NotSupportedError"));
  }
  return importKey.call(this, format, key, algorithm, ...rest);
};
"""


@pytest.fixture
def batch(app: Any) -> dict[str, Any]:
    """A batch with a spraying and a harvest carrying a photo."""
    with app.app_context():
        made = new_batch()
        spraying = step(made, "spraying", {**SPRAYING, "occurred_at": ago(30)})
        harvest = step(made, "harvest", {"quantity": "120", "occurred_at": ago(10)}, photos=1)
        return {
            "code": made.code,
            "spraying": spraying.id,
            "harvest": harvest.id,
            "harvest_seq": harvest.seq,
        }


def device_verdicts(page: Any) -> Any:
    return page.locator(".verdict.device")


def test_verified_on_this_device_then_a_tampered_step_fails(
    app: Any, live_server: str, phone_page: Any, batch: dict[str, Any]
) -> None:
    page = phone_page
    url = f"{live_server}/b/{batch['code']}"
    page.goto(url)
    banner = page.locator("#device-check")
    expect(banner).to_have_attribute("data-state", "verified")
    expect(banner).to_contain_text(ON_DEVICE)
    expect(device_verdicts(page)).to_have_count(3)  # the batch record and its two steps
    for verdict in device_verdicts(page).all():
        expect(verdict).to_have_text(f"✓ {ON_DEVICE}")
    harvest = page.locator(f"#step-{batch['harvest']}")
    expect(harvest.locator(".thumbs img")).to_have_count(1)

    seq = batch["harvest_seq"]
    with app.app_context():
        engine = goc().ledger.engine
        original = goc().ledger.entry(seq).statement.data
    assert original.count(b'"quantity":"120"') == 1
    with bypass(engine) as conn:
        conn.execute(
            text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
            {"d": original.replace(b'"quantity":"120"', b'"quantity":"720"'), "s": seq},
        )
    try:
        # The page's ETag follows the tree size, which an edit behind the ledger's back does not
        # change: drop the browser's cache so that the reload really asks the server again.
        page.context.new_cdp_session(page).send("Network.clearBrowserCache")
        page.reload()
        expect(banner).to_have_attribute("data-state", "failed")
        expect(banner).to_contain_text(FAILED_ON_DEVICE)
        expect(harvest.locator(".verdict.bad").first).to_have_text(f"✗ {SERVER_FAILED}")
        expect(harvest.locator(".verdict.device")).to_have_text(f"✗ {FAILED_ON_DEVICE}")
        expect(harvest.locator(".checks.device")).to_contain_text("Chữ ký không khớp")
        expect(harvest.locator(".checks.device")).to_contain_text("Mã băm")
        spraying = page.locator(f"#step-{batch['spraying']}")
        expect(spraying.locator(".verdict.device")).to_have_text(f"✓ {ON_DEVICE}")
        expect(spraying.locator(".verdict.bad")).to_have_count(0)
    finally:
        with bypass(engine) as conn:
            conn.execute(
                text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
                {"d": original, "s": seq},
            )
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
    page.reload()
    expect(banner).to_have_attribute("data-state", "verified")


def test_without_ed25519_the_page_shows_the_servers_verdict_and_says_so(
    live_server: str, phone_page: Any, batch: dict[str, Any]
) -> None:
    page = phone_page
    page.add_init_script(NO_ED25519)
    page.goto(f"{live_server}/b/{batch['code']}")
    banner = page.locator("#device-check")
    expect(banner).to_have_attribute("data-state", "fallback")
    expect(banner).to_contain_text("không kiểm được chữ ký Ed25519")
    expect(device_verdicts(page)).to_have_count(0)
    expect(page.locator(".verdict.ok")).to_have_count(3)  # the server's verdicts stay


def test_a_revoked_key_verifies_only_before_its_revocation_on_this_device(
    app: Any, live_server: str, phone_page: Any, batch: dict[str, Any]
) -> None:
    """The script replays key.revoke as well as key.register: after a key reissue, the old key's
    entries from before the revocation and the new key's entries verify; an entry re-signed
    with the old key after its revocation does not."""
    with app.app_context():
        found = db.session.scalar(select(Batch).where(Batch.code == batch["code"]))
        old_signer = household_signer(goc(), found.household)
        admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
        reissue_key(db.session, goc(), actor=admin, household=found.household, reason="mất máy")
        late = step(found, "note", {"note": "Ghi bằng khoá mới"})
        late_id, late_seq = late.id, late.seq
    page = phone_page
    page.goto(f"{live_server}/b/{batch['code']}")
    expect(page.locator("#device-check")).to_have_attribute("data-state", "verified")
    expect(page.locator(".verdict.device.ok")).to_have_count(4)

    with app.app_context(), tampered(resign(late_seq, old_signer)):
        page.context.new_cdp_session(page).send("Network.clearBrowserCache")
        page.reload()
        expect(page.locator("#device-check")).to_have_attribute("data-state", "failed")
        late_step = page.locator(f"#step-{late_id}")
        expect(late_step.locator(".verdict.device")).to_have_text(f"✗ {FAILED_ON_DEVICE}")
        expect(late_step.locator(".checks.device")).to_contain_text("Chữ ký không khớp")
        expect(page.locator(".verdict.device.ok")).to_have_count(3)

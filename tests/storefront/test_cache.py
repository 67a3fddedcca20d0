"""Rendered public pages are kept per worker under their ETag: a repeat request is not verified
and rendered again, yet a ledger entry changed in place (the tree size unchanged) re-renders the
page at once, and a new entry does too."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select, text

from app.context import goc
from app.extensions import db
from app.models import Batch
from app.services.orders import set_offer
from storefront import cache, pages, views
from tests.ledger.test_tamper import bypass
from tests.orders_support import PRICE, batch_on_sale, member, order
from tests.storefront.test_pages import new_batch, step


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The codes of the batch pages verified and rendered, in order."""
    done: list[str] = []
    real = pages.batch_page

    def counting(session: Any, goc: Any, batch: Batch, page: int) -> Any:
        done.append(batch.code)
        return real(session, goc, batch, page)

    monkeypatch.setattr(pages, "batch_page", counting)
    return done


@pytest.fixture
def batch(app: Any) -> dict[str, Any]:
    with app.app_context():
        created = new_batch()
        harvest = step(created, "harvest", {"quantity": "80.5"})
        return {"code": created.code, "seq": harvest.seq}


def test_a_repeat_request_is_served_from_the_cache(
    client: Any, batch: dict[str, Any], renders: list[str]
) -> None:
    first = client.get(f"/b/{batch['code']}")
    second = client.get(f"/b/{batch['code']}")
    assert renders == [batch["code"]]
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    client.get(f"/b/{batch['code']}?lang=en")
    assert renders == [batch["code"]] * 2  # another language is another page


def test_an_entry_changed_in_place_is_verified_again(
    app: Any, client: Any, batch: dict[str, Any], renders: list[str]
) -> None:
    url = f"/b/{batch['code']}?lang=en"
    before = client.get(url)
    assert "Verification failed" not in before.get_data(as_text=True)
    with app.app_context():
        engine = goc().ledger.engine
        size = goc().ledger.size()
        original = goc().ledger.entry(batch["seq"]).statement.data
    with bypass(engine) as conn:
        conn.execute(
            text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
            {"d": original.replace(b"80.5", b"90.5"), "s": batch["seq"]},
        )
    try:
        with app.app_context():
            assert goc().ledger.size() == size
        tampered = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    finally:
        with bypass(engine) as conn:
            conn.execute(
                text("UPDATE ledger_entries SET statement = :d WHERE seq = :s"),
                {"d": original, "s": batch["seq"]},
            )
    assert tampered.status_code == 200
    assert tampered.headers["ETag"] != before.headers["ETag"]
    assert "Verification failed" in tampered.get_data(as_text=True)
    restored = client.get(url)
    assert restored.headers["ETag"] == before.headers["ETag"]
    assert "Verification failed" not in restored.get_data(as_text=True)
    assert renders == [batch["code"]] * 2  # the restored page was still kept


def test_a_new_entry_renders_the_page_again(
    app: Any, client: Any, batch: dict[str, Any], renders: list[str]
) -> None:
    client.get(f"/b/{batch['code']}")
    with app.app_context():
        found = db.session.scalar(select(Batch).where(Batch.code == batch["code"]))
        step(found, "note", {"note": "Bón thêm phân hữu cơ"})
    html = client.get(f"/b/{batch['code']}").get_data(as_text=True)
    assert "Bón thêm phân hữu cơ" in html
    assert renders == [batch["code"]] * 2


def test_the_offer_is_part_of_a_batch_pages_version(
    app: Any, client: Any, renders: list[str]
) -> None:
    """Price and units left change outside the ledger (an order reserves units, a household
    takes the batch off sale): the kept page follows them with no new entry."""
    code = batch_on_sale(app, available=10)
    before = client.get(f"/b/{code}?lang=en")
    assert "10 quả available" in before.get_data(as_text=True)
    with app.app_context():
        size = goc().ledger.size()
    order(app, code, quantity=3)
    with app.app_context():
        assert goc().ledger.size() == size  # an unpaid order appends nothing
    reserved = client.get(f"/b/{code}?lang=en", headers={"If-None-Match": before.headers["ETag"]})
    assert reserved.status_code == 200 and reserved.headers["ETag"] != before.headers["ETag"]
    assert "7 quả available" in reserved.get_data(as_text=True)
    with app.app_context():
        batch = db.session.scalar(select(Batch).where(Batch.code == code))
        data = {"price_vnd": PRICE, "available": 7, "on_sale": False}
        set_offer(db.session, actor=member(), batch=batch, data=data)
    off_sale = client.get(f"/b/{code}?lang=en").get_data(as_text=True)
    assert "quả available" not in off_sale and 'id="order"' not in off_sale
    assert renders == [code] * 3


def test_under_load_a_worker_reads_the_ledger_state_once_a_window(
    app: Any, client: Any, batch: dict[str, Any], renders: list[str], monkeypatch: Any
) -> None:
    """With PUBLIC_PAGE_STATE_SECONDS (tests run with 0), requests within one window reuse the
    state the worker read: a new entry shows from the next window on, not before."""
    found = app.extensions["goc"]
    settings = replace(found.settings, public_page_state_seconds=5.0)
    app.extensions["goc"] = replace(found, settings=settings)
    reads: list[str] = []
    real = cache.batch_state
    monkeypatch.setattr(views, "batch_state", lambda *a: reads.append(a[1]) or real(*a))
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    first = client.get(f"/b/{batch['code']}")
    with app.app_context():
        found_batch = db.session.scalar(select(Batch).where(Batch.code == batch["code"]))
        step(found_batch, "note", {"note": "Bón thêm phân hữu cơ"})
    clock[0] += 4.9
    same = client.get(f"/b/{batch['code']}")
    assert same.headers["ETag"] == first.headers["ETag"]
    assert "Bón thêm phân hữu cơ" not in same.get_data(as_text=True)
    assert reads == [batch["code"]] and renders == [batch["code"]]
    clock[0] += 0.2  # the next window
    later = client.get(f"/b/{batch['code']}").get_data(as_text=True)
    assert "Bón thêm phân hữu cơ" in later
    assert reads == [batch["code"]] * 2 and renders == [batch["code"]] * 2

"""CSV exports of steps: a household's own (from its dashboard) and the hamlet's (co-op admin),
UTF-8 with a BOM for Excel, rows tied to ledger entries, and nobody reading another's rows."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import select

from app.context import goc
from app.extensions import db
from app.models import Batch, Household, Step
from app.services import batches as service
from tests.batches import batch_with_steps, household_user
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, login

HARVEST = ("harvest", {"quantity": "120.5", "note": "Hái sáng sớm, trời nắng"})
SPRAYING = (
    "spraying",
    {
        "product": "Chế phẩm sinh học",
        "active_ingredient": "Bacillus thuringiensis",
        "dose": "20 ml / bình 16 l",
        "note": '=HYPERLINK("http://evil")',
        "phi_days": 3,
    },
)


@pytest.fixture
def codes(app: Any) -> tuple[str, str]:
    """A batch of each household; the first household's harvest is then corrected."""
    with app.app_context():
        mine = batch_with_steps(HOUSEHOLD_PHONES[0], [SPRAYING, HARVEST])
        theirs = batch_with_steps(HOUSEHOLD_PHONES[1], [HARVEST], product="Gạo ST25")
        harvest = db.session.scalar(
            select(Step).join(Batch).where(Batch.code == mine, Step.kind == "harvest")
        )
        service.correct_step(
            db.session,
            goc(),
            actor=household_user(HOUSEHOLD_PHONES[0]),
            step=harvest,
            data={"reason": "Cân nhầm"},
        )
    return mine, theirs


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_a_household_downloads_its_own_steps_only(
    app: Any, client: Any, codes: tuple[str, str]
) -> None:
    mine, theirs = codes
    login(client, HOUSEHOLD_PHONES[0])
    assert b"/household/steps.csv" in client.get("/household/").data
    found = rows(client.get("/household/steps.csv"))
    assert {r["Mã lô hàng"] for r in found} == {mine}
    assert theirs not in client.get("/household/steps.csv").get_data(as_text=True)
    assert [r["Bước"] for r in found] == ["Phun thuốc", "Thu hoạch", "Bản sửa"]
    spraying, harvest, correction = found
    assert harvest["Ghi chú"] == "Hái sáng sớm, trời nắng"
    assert "120.5 kg" in harvest["Chi tiết"]
    assert spraying["Ghi chú"] == '\'=HYPERLINK("http://evil")'  # text, never a formula
    assert correction["Sửa bản ghi"] == harvest["Bản ghi sổ cái"]
    assert "Cân nhầm" in correction["Chi tiết"]
    with app.app_context():
        for row in found:
            entry = goc().ledger.entry(int(row["Bản ghi sổ cái"]))
            assert entry is not None and entry.hash.hex() == row["Mã băm bản ghi"]


def test_the_co_op_downloads_the_hamlets_steps(
    app: Any, client: Any, codes: tuple[str, str]
) -> None:
    mine, theirs = codes
    login(client, ADMIN_PHONE)
    assert b"/admin/steps.csv" in client.get("/admin/").data
    found = rows(client.get("/admin/steps.csv?lang=en"))
    assert {r["Batch code"] for r in found} == {mine, theirs}
    assert len(found) == 4
    with app.app_context():
        household = db.session.scalar(select(Household).join(Batch).where(Batch.code == theirs))
        assert household is not None
        code = household.code
    page = client.get(f"/admin/households/{code}").data
    assert f"/admin/households/{code}/steps.csv".encode() in page
    one = rows(client.get(f"/admin/households/{code}/steps.csv"))
    assert [r["Mã lô hàng"] for r in one] == [theirs]
    assert client.get("/admin/households/NOPE/steps.csv").status_code == 404


def test_households_and_visitors_cannot_download_the_hamlet(
    client: Any, codes: tuple[str, str]
) -> None:
    assert client.get("/household/steps.csv").status_code == 302  # to the login page
    assert client.get("/admin/steps.csv").status_code == 302
    login(client, HOUSEHOLD_PHONES[1])
    assert client.get("/admin/steps.csv").status_code == 403
    assert client.get("/admin/households/H0001/steps.csv").status_code == 403

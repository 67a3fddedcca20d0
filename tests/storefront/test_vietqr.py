"""VietQR payloads: the published examples byte for byte, and our own QR images decoded."""

from __future__ import annotations

from typing import Any

import pytest
import zxingcpp
from PIL import Image

from app import vietqr
from tests.orders_support import ACCOUNT, BANK_BIN, PRICE, batch_on_sale, order

# (payload, build arguments) from ../shared/reference/vietqr-and-payments.md §1.6 / §1.7
PUBLISHED = {
    "A static ACB": (
        "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F",
        {"bank_bin": "970416", "account": "257678859"},
    ),
    "B dynamic 10000": (
        "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA5303704540510000"
        "5802VN62150811Chuyen tien630453E6",
        {"bank_bin": "970416", "account": "257678859", "amount": 10000, "purpose": "Chuyen tien"},
    ),
    "C dynamic 1000": (
        "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA530370454041000"
        "5802VN62150811Chuyen tien6304BBB8",
        {"bank_bin": "970416", "account": "257678859", "amount": 1000, "purpose": "Chuyen tien"},
    ),
    "D CRC with a leading zero": (
        "00020101021138580010A000000727012800069704070114190304136010180208QRIBFTTA53037045802VN"
        "63040283",
        {"bank_bin": "970407", "account": "19030413601018"},
    ),
    "F NAPAS spec example": (
        "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA5303704540618"
        "00005802VN62340107NPS68690819thanh toan don hang63042E2E",
        {
            "bank_bin": "970403",
            "account": "0011012345678",
            "amount": 180000,
            "bill_number": "NPS6869",
            "purpose": "thanh toan don hang",
        },
    ),
    "G static spec example": (
        "00020101021138570010A00000072701270006970403011300110123456780208QRIBFTTA53037045802VN"
        "63049E6F",
        {"bank_bin": "970403", "account": "0011012345678"},
    ),
    "H to a card": (
        "00020101021138600010A00000072701300006970403011697040311012345670208QRIBFTTC53037045802VN"
        "63044F52",
        {"bank_bin": "970403", "account": "9704031101234567", "service": vietqr.TO_CARD},
    ),
    "I vietqr.io": (
        "00020101021238560010A0000007270126000697041501121133666688880208QRIBFTTA5303704540579000"
        "5802VN62220818Ung Ho Quy Vac Xin63043ACF",
        {
            "bank_bin": "970415",
            "account": "113366668888",
            "amount": 79000,
            "purpose": "Ung Ho Quy Vac Xin",
        },
    ),
    "M sunary": (
        "00020101021138510010A00000072701210006970407010797968680208QRIBFTTA53037045802VN62240820"
        "gen by sunary/vietqr6304BE74",
        {"bank_bin": "970407", "account": "9796868", "purpose": "gen by sunary/vietqr"},
    ),
    "N subiz": (
        "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA53037045406120000"
        "5802VN62170813ung ho lu lut6304C15C",
        {
            "bank_bin": "970415",
            "account": "0011001932418",
            "amount": 120000,
            "purpose": "ung ho lu lut",
        },
    ),
    "worked example": (
        "00020101021238570010A00000072701270006970436011300110012345670208QRIBFTTA5303704540615"
        "00005802VN62190815DH12345 rau cai63044319",
        {
            "bank_bin": "970436",
            "account": "0011001234567",
            "amount": 150000,
            "purpose": "DH12345 rau cai",
        },
    ),
}


def test_crc_check_value() -> None:
    assert vietqr.crc16("123456789") == "29B1"


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_payloads_are_built_byte_exact(name: str) -> None:
    payload, arguments = PUBLISHED[name]
    assert vietqr.build(**arguments) == payload


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_payloads_parse_back(name: str) -> None:
    payload, arguments = PUBLISHED[name]
    parsed = vietqr.parse(payload)
    assert parsed.guid == vietqr.NAPAS_GUID
    assert parsed.bank_bin == arguments["bank_bin"]
    assert parsed.account == arguments["account"]
    assert parsed.service == arguments.get("service", vietqr.TO_ACCOUNT)
    assert parsed.amount == arguments.get("amount")
    assert parsed.dynamic is ("amount" in arguments)
    assert parsed.purpose == arguments.get("purpose")
    assert parsed.bill_number == arguments.get("bill_number")
    assert (parsed.currency, parsed.country) == ("704", "VN")


def test_lowercase_crc_and_tags_out_of_order_parse() -> None:
    mb = (
        "00020101021138540010A00000072701240006970422011003523509170208QRIBFTTA53037045802VN"
        "630479db"
    )
    assert vietqr.parse(mb).account == "0352350917"
    shuffled = (
        "00020101021153037045802VN38540010A00000072701240006970436011010319334300208QRIBFTTA6222"
        "0818Thanh toan hoa don6304FCE9"
    )
    parsed = vietqr.parse(shuffled)
    assert (parsed.bank_bin, parsed.purpose) == ("970436", "Thanh toan hoa don")


def test_a_wrong_crc_is_rejected() -> None:
    bad = PUBLISHED["C dynamic 1000"][0][:-1] + "5"
    with pytest.raises(vietqr.VietQRError, match="CRC"):
        vietqr.parse(bad)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bank_bin": "97040", "account": "1"}, "BIN"),
        ({"bank_bin": "970405", "account": "1" * 20}, "account"),
        ({"bank_bin": "970405", "account": "1", "purpose": "x" * 26}, "purpose"),
        ({"bank_bin": "970405", "account": "1", "purpose": "Bưởi"}, "purpose"),
        ({"bank_bin": "970405", "account": "1", "amount": 0}, "amount"),
    ],
)
def test_values_a_vietqr_cannot_carry_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(vietqr.VietQRError, match=message):
        vietqr.build(**arguments)


def test_the_bin_list_is_data() -> None:
    assert vietqr.BANKS_BY_BIN["970436"].name == "Vietcombank"
    assert vietqr.BANKS_BY_BIN["970405"].code == "AGRIBANK"
    assert len({bank.bin for bank in vietqr.BANKS}) == len(vietqr.BANKS)


def test_vnd_format() -> None:
    assert vietqr.format_vnd(45000) == "45.000 ₫"
    assert vietqr.format_vnd(1234567) == "1.234.567 ₫"
    assert vietqr.format_vnd(500) == "500 ₫"


def test_our_order_qr_image_decodes_to_the_payload(app: Any, client: Any, tmp_path: Any) -> None:
    code = batch_on_sale(app)
    placed = order(app, code, quantity=3)
    response = client.get(f"/o/{placed.token}/qr.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "no-store" in response.headers["Cache-Control"]
    image = tmp_path / "qr.png"
    image.write_bytes(response.data)
    [decoded] = zxingcpp.read_barcodes(Image.open(image))
    parsed = vietqr.parse(decoded.text)
    assert (parsed.bank_bin, parsed.account) == (BANK_BIN, ACCOUNT)
    assert parsed.amount == 3 * PRICE and parsed.dynamic
    assert parsed.purpose == placed.order.code
    assert parsed.service == vietqr.TO_ACCOUNT

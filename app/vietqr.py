"""VietQR payloads: the EMVCo merchant-presented QR with the NAPAS tag 38 template.

A payload is a run of TLV data objects (2-digit ID, 2-digit length, value), ``00`` first and
the CRC-16/CCITT-FALSE ``63`` last; templates (38, 62) nest the same format. See
``../shared/reference/vietqr-and-payments.md`` for the sources; the tests reproduce the
published example payloads byte for byte.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import NamedTuple

NAPAS_GUID = "A000000727"
TO_ACCOUNT = "QRIBFTTA"  # NAPAS 247 transfer to an account number
TO_CARD = "QRIBFTTC"
STATIC, DYNAMIC = "11", "12"  # point of initiation: reusable, or one transaction with amount
VND = "704"
VIETNAM = "VN"
MAX_VALUE = 99
MAX_ADDITIONAL = 25  # each tag 62 sub-field (bill number, purpose) is "ans ..25"
MAX_ACCOUNT = 19
MAX_AMOUNT_DIGITS = 13
PRINTABLE_ASCII = re.compile(r"[ -~]*")


class Bank(NamedTuple):
    bin: str
    code: str
    name: str


# NAPAS participant BINs (vietnam-qr-pay src/constants/banks.ts, cross-checked in the reference).
BANKS = (
    Bank("970436", "VCB", "Vietcombank"),
    Bank("970415", "CTG", "VietinBank"),
    Bank("970418", "BID", "BIDV"),
    Bank("970405", "AGRIBANK", "Agribank"),
    Bank("970407", "TCB", "Techcombank"),
    Bank("970422", "MBB", "MB Bank"),
    Bank("970416", "ACB", "ACB"),
    Bank("970432", "VPB", "VPBank"),
    Bank("970403", "STB", "Sacombank"),
    Bank("970423", "TPB", "TPBank"),
    Bank("970441", "VIB", "VIB"),
    Bank("970443", "SHB", "SHB"),
    Bank("970437", "HDB", "HDBank"),
    Bank("970449", "LPB", "LPBank"),
    Bank("970440", "SSB", "SeABank"),
    Bank("970448", "OCB", "OCB"),
    Bank("970426", "MSB", "MSB"),
    Bank("970431", "EIB", "Eximbank"),
    Bank("970454", "BVB", "BVBank"),
    Bank("546034", "CAKE", "CAKE by VPBank"),
    Bank("963388", "TIMO", "Timo"),
    Bank("971025", "MOMO", "MoMo"),
)
BANKS_BY_BIN = {bank.bin: bank for bank in BANKS}


class VietQRError(ValueError):
    """A payload cannot be built from these values, or a scanned one does not parse."""


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection) as 4 uppercase hex digits.

    ``binascii.crc_hqx`` is exactly this CRC when started from 0xFFFF.
    """
    return f"{binascii.crc_hqx(data.encode('utf-8'), 0xFFFF):04X}"


def tlv(tag: str, value: str) -> str:
    if not 1 <= len(value) <= MAX_VALUE:
        raise VietQRError(f"tag {tag}: value must be 1 to {MAX_VALUE} characters")
    return f"{tag}{len(value):02d}{value}"


def _ascii(name: str, value: str, limit: int) -> str:
    if not value or len(value) > limit or not PRINTABLE_ASCII.fullmatch(value):
        raise VietQRError(f"{name}: 1 to {limit} printable ASCII characters")
    return value


def build(
    *,
    bank_bin: str,
    account: str,
    amount: int | None = None,
    purpose: str | None = None,
    bill_number: str | None = None,
    service: str = TO_ACCOUNT,
) -> str:
    """A VietQR payload; dynamic (initiation 12) when it carries an amount, else static (11)."""
    if not re.fullmatch(r"\d{6}", bank_bin):
        raise VietQRError("bank BIN: exactly 6 digits")
    _ascii("account", account, MAX_ACCOUNT)
    beneficiary = tlv("00", bank_bin) + tlv("01", account)
    merchant = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", service)
    parts = [tlv("00", "01"), tlv("01", DYNAMIC if amount is not None else STATIC)]
    parts += [tlv("38", merchant), tlv("53", VND)]
    if amount is not None:
        if amount <= 0 or len(str(amount)) > MAX_AMOUNT_DIGITS:
            raise VietQRError("amount: a positive whole number of VND, at most 13 digits")
        parts.append(tlv("54", str(amount)))  # VND has no minor unit: digits only
    parts.append(tlv("58", VIETNAM))
    additional = ""
    if bill_number:
        additional += tlv("01", _ascii("bill number", bill_number, MAX_ADDITIONAL))
    if purpose:
        additional += tlv("08", _ascii("purpose", purpose, MAX_ADDITIONAL))
    if additional:
        parts.append(tlv("62", additional))
    body = "".join(parts) + "6304"
    return body + crc16(body)


def split(data: str) -> dict[str, str]:
    """The TLV data objects of ``data`` by ID (a later duplicate replaces an earlier one)."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(data):
        head = data[position : position + 4]
        if len(head) < 4 or not head.isdigit():
            raise VietQRError(f"malformed data object at position {position}")
        length = int(head[2:])
        value = data[position + 4 : position + 4 + length]
        if length == 0 or len(value) != length:
            raise VietQRError(f"tag {head[:2]}: truncated value at position {position}")
        fields[head[:2]] = value
        position += 4 + length
    return fields


@dataclass(frozen=True)
class Payload:
    """A parsed VietQR (NAPAS tag 38) payload."""

    initiation: str
    guid: str
    bank_bin: str
    account: str
    service: str
    currency: str
    country: str
    amount: int | None
    purpose: str | None
    bill_number: str | None
    crc: str

    @property
    def dynamic(self) -> bool:
        return self.initiation == DYNAMIC


def parse(payload: str) -> Payload:
    """Check the CRC first (case-insensitively: some banks print it lowercase), then parse."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise VietQRError("the payload does not end with a CRC (tag 63)")
    if crc16(payload[:-4]) != payload[-4:].upper():
        raise VietQRError("CRC mismatch")
    root = split(payload[:-8])
    if root.get("00") != "01":
        raise VietQRError("tag 00: payload format indicator must be 01")
    if "38" not in root:
        raise VietQRError("tag 38: not a VietQR (NAPAS) payload")
    merchant = split(root["38"])
    beneficiary = split(merchant.get("01", ""))
    additional = split(root["62"]) if "62" in root else {}
    amount = root.get("54")
    if amount is not None and not amount.isdigit():
        raise VietQRError("tag 54: the amount must be whole VND")
    return Payload(
        initiation=root.get("01", ""),
        guid=merchant.get("00", ""),
        bank_bin=beneficiary.get("00", ""),
        account=beneficiary.get("01", ""),
        service=merchant.get("02", ""),
        currency=root.get("53", ""),
        country=root.get("58", ""),
        amount=int(amount) if amount is not None else None,
        purpose=additional.get("08"),
        bill_number=additional.get("01"),
        crc=payload[-4:].upper(),
    )


def format_vnd(amount: int) -> str:
    """VND as Vietnamese write it: dots between thousands, the sign after (45.000 ₫)."""
    return f"{amount:,}".replace(",", ".") + " ₫"

"""A demo hamlet for development and trials: a co-op admin, three farm households, five batches
of real produce with back-dated production steps and a few drawn photos.

``seed_demo`` goes through the same services as the web pages, so every step is a signed ledger
statement. It is idempotent: accounts are found by phone, batches by household and lot, and steps
by kind and time (fixed relative to the batch's stored start date), so a second run adds nothing.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from .context import Goc
from .errors import Conflict
from .models import Batch, Role, Step, User
from .services.accounts import create_admin
from .services.batches import create_batch, record_step
from .services.households import enroll_household, normalise_phone, update_profile
from .services.orders import offer_of, set_offer
from .services.photos import prepare_photo

VIETNAM = timezone(timedelta(hours=7), "ICT")
DEMO_PASSWORD = "demo-goc-123"
ADMIN_PHONE = "0901 234 500"
ADMIN_NAME = "Tổ công nghệ số cộng đồng thôn Tân Hương"


@dataclass(frozen=True)
class DemoStep:
    day: int  # days after the batch's start date
    hour: int  # local time (UTC+7)
    kind: str
    data: Mapping[str, Any]
    photo: str | None = None  # a drawing from DRAWINGS


@dataclass(frozen=True)
class DemoBatch:
    lot: str
    days_ago: int  # the start date on the first run; later runs keep the stored one
    fields: Mapping[str, Any]
    steps: tuple[DemoStep, ...]
    offer: Mapping[str, Any] | None = None  # put on sale with this price and stock


@dataclass(frozen=True)
class DemoHousehold:
    phone: str
    profile: Mapping[str, str]
    share_location: bool
    payout: Mapping[str, str] | None
    batches: tuple[DemoBatch, ...]


@dataclass
class SeedResult:
    admin: User
    households: list[User] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    on_sale: Batch | None = None
    created: dict[str, int] = field(
        default_factory=lambda: {"accounts": 0, "batches": 0, "steps": 0}
    )

    @property
    def showcase(self) -> Batch:
        """The batch to open first: the one with a GTIN, harvested and packed."""
        return next((b for b in self.batches if b.gtin), self.batches[0])


# -- the hamlet ----------------------------------------------------------------------------------

POMELO = DemoBatch(
    lot="PT-L2-01",
    days_ago=235,
    fields={
        "product": "Bưởi Phúc Trạch",
        "variety": "Bưởi ruột hồng",
        "plot": "Vườn đồi lô 2 (0,6 ha, 180 gốc)",
        "unit": "quả",
        "expected_quantity": "2400",
        "gtin": "9521234000013",  # GS1 prefix 952: reserved for demonstrations
    },
    steps=(
        DemoStep(0, 7, "fertilising", {
            "product": "Phân hữu cơ vi sinh Sông Gianh", "amount": "36", "amount_unit": "bao",
            "note": "Bón sau thu hoạch, 5 kg/gốc, rạch rãnh quanh tán rồi lấp đất."}),
        DemoStep(6, 16, "irrigation", {
            "method": "Tưới gốc bằng ống mềm", "water_source": "Nước khe Tân Hương"}),
        DemoStep(30, 7, "care", {
            "activity": "Tỉa cành vượt, cành sâu bệnh; quét vôi gốc"}),
        DemoStep(55, 7, "fertilising", {
            "product": "NPK Đầu Trâu 13-13-13+TE", "amount": "90", "amount_unit": "kg",
            "note": "Bón thúc ra hoa, 0,5 kg/gốc."}),
        DemoStep(68, 8, "care", {
            "activity": "Thụ phấn bổ sung, tỉa bớt hoa dị dạng"}),
        DemoStep(96, 6, "spraying", {
            "product": "Kasumin 2SL", "active_ingredient": "Kasugamycin 2%",
            "dose": "25 ml / bình 16 lít", "phi_days": 7,
            "note": "Phòng bệnh loét trên quả non sau đợt mưa."}),
        DemoStep(120, 8, "care", {
            "activity": "Bao quả bằng túi giấy chuyên dụng"}, photo="pomelo_tree"),
        DemoStep(150, 7, "fertilising", {
            "product": "Kali clorua (KCl)", "amount": "54", "amount_unit": "kg",
            "note": "Bón nuôi quả, 0,3 kg/gốc."}),
        DemoStep(185, 6, "spraying", {
            "product": "Tập Kỳ 1.8EC", "active_ingredient": "Abamectin 1,8%",
            "dose": "10 ml / bình 16 lít", "phi_days": 14,
            "note": "Trừ nhện đỏ; không phun gần nguồn nước."}),
        DemoStep(215, 9, "inspection", {
            "inspector": "Chi cục Trồng trọt và Bảo vệ thực vật Hà Tĩnh",
            "certificate_number": "417/KQ-TTBVTV", "result": "pass",
            "note": "Lấy mẫu kiểm dư lượng thuốc BVTV: không phát hiện vượt mức cho phép."}),
        DemoStep(222, 7, "harvest", {
            "quantity": "2350", "note": "Thu khi vỏ chuyển vàng xanh, trời khô ráo."},
            photo="pomelo_harvest"),
        DemoStep(223, 14, "packing", {
            "pack_size": "10", "pack_count": 230,
            "note": "Thùng carton 10 quả, dán tem truy xuất nguồn gốc."}),
        DemoStep(224, 6, "transport", {
            "handed_to": "HTX Nông nghiệp Phúc Trạch", "vehicle": "Xe tải 38C-215.47"}),
    ),
    offer={"price_vnd": 45000, "available": 120, "on_sale": True},
)  # fmt: skip

POMELO_YOUNG = DemoBatch(
    lot="PT-L1-02",
    days_ago=80,
    fields={
        "product": "Bưởi Phúc Trạch",
        "variety": "Bưởi ruột hồng",
        "plot": "Vườn ven khe lô 1 (0,6 ha, 170 gốc)",
        "unit": "quả",
        "expected_quantity": "2200",
    },
    steps=(
        DemoStep(0, 7, "fertilising", {
            "product": "Phân chuồng hoai ủ Trichoderma", "amount": "850", "amount_unit": "kg",
            "note": "5 kg/gốc sau thu hoạch."}),
        DemoStep(20, 8, "care", {"activity": "Tỉa cành, dọn cỏ quanh gốc"}),
        DemoStep(45, 17, "irrigation", {
            "method": "Tưới nhỏ giọt", "water_source": "Bể chứa nước mưa"}),
        DemoStep(70, 7, "care", {"activity": "Tủ gốc bằng rơm giữ ẩm mùa khô"}),
    ),
)  # fmt: skip

MUSTARD_GREENS = DemoBatch(
    lot="CN-NL3-07",
    days_ago=40,
    fields={
        "product": "Rau cải ngọt",
        "variety": "Cải ngọt lá to (hạt giống Phú Nông)",
        "plot": "Nhà lưới số 3 (500 m²)",
        "unit": "kg",
        "expected_quantity": "350",
    },
    steps=(
        DemoStep(0, 6, "planting", {
            "seed_source": "Hạt giống Phú Nông, gieo vãi", "seed_lot": "PN-CN-2291",
            "note": "Làm đất, bón lót 200 kg phân hữu cơ vi sinh."}),
        DemoStep(1, 17, "irrigation", {
            "method": "Tưới phun sương",
            "water_source": "Giếng khoan (đạt QCVN 39:2011/BTNMT)"}),
        DemoStep(8, 7, "care", {"activity": "Tỉa thưa, dặm cây"}),
        DemoStep(12, 16, "fertilising", {
            "product": "Đạm cá hữu cơ pha loãng", "amount": "5", "amount_unit": "lít"}),
        DemoStep(18, 6, "spraying", {
            "product": "Xentari 35WDG",
            "active_ingredient": "Bacillus thuringiensis var. aizawai",
            "dose": "10 g / bình 16 lít", "phi_days": 3,
            "note": "Trừ sâu tơ bằng thuốc sinh học."}, photo="greens"),
        DemoStep(22, 7, "care", {"activity": "Làm cỏ bằng tay"}),
        DemoStep(30, 5, "harvest", {
            "quantity": "320", "note": "Cắt sát gốc lúc sáng sớm, loại bỏ lá vàng."}),
        DemoStep(30, 9, "packing", {
            "pack_size": "0.5", "pack_count": 600, "note": "Túi 0,5 kg có tem QR."}),
        DemoStep(31, 6, "transport", {
            "handed_to": "Bếp ăn Trường Tiểu học Hương Trạch", "vehicle": "Xe ba gác máy"}),
    ),
)  # fmt: skip

MUSTARD_LEAVES = DemoBatch(
    lot="CB-L5-08",
    days_ago=12,
    fields={
        "product": "Rau cải bẹ xanh",
        "variety": "Cải bẹ xanh mỡ (cải canh)",
        "plot": "Luống ngoài trời số 5 (300 m²)",
        "unit": "kg",
        "expected_quantity": "250",
    },
    steps=(
        DemoStep(0, 16, "planting", {
            "seed_source": "Cây con tự ươm từ hạt giống Rạng Đông", "seed_lot": "RD-CB-118",
            "note": "Trồng khoảng cách 20 × 20 cm."}),
        DemoStep(1, 6, "irrigation", {"method": "Tưới rãnh", "water_source": "Giếng khoan"}),
        DemoStep(7, 7, "fertilising", {
            "product": "Phân hữu cơ vi sinh Quế Lâm", "amount": "2", "amount_unit": "bao"}),
        DemoStep(10, 7, "care", {"activity": "Làm cỏ, xới nhẹ mặt luống"}),
    ),
)  # fmt: skip

RICE = DemoBatch(
    lot="ST25-R2-01",
    days_ago=130,
    fields={
        "product": "Gạo ST25",
        "variety": "ST25 (mô hình lúa – tôm)",
        "plot": "Ruộng số 2, ấp Hòa Nhờ A (1,5 ha)",
        "unit": "kg",
        "expected_quantity": "4500",
    },
    steps=(
        DemoStep(0, 6, "planting", {
            "seed_source": "Giống ST25 xác nhận, Trung tâm Giống nông nghiệp Sóc Trăng",
            "seed_lot": "ST25-XN-0923", "note": "Sạ hàng 80 kg/ha sau khi rửa mặn."}),
        DemoStep(10, 17, "irrigation", {
            "method": "Giữ nước 3–5 cm, tháo rửa mặn",
            "water_source": "Kênh nội đồng Hòa Nhờ (độ mặn dưới 1‰)"}),
        DemoStep(20, 7, "fertilising", {
            "product": "Urê Phú Mỹ", "amount": "60", "amount_unit": "kg",
            "note": "Bón thúc đẻ nhánh, 40 kg/ha."}),
        DemoStep(45, 7, "fertilising", {
            "product": "NPK Phú Mỹ 16-16-8", "amount": "150", "amount_unit": "kg",
            "note": "Bón đón đòng, 100 kg/ha."}),
        DemoStep(60, 16, "spraying", {
            "product": "Chess 50WG", "active_ingredient": "Pymetrozine 50%",
            "dose": "7,5 g / bình 16 lít", "phi_days": 14,
            "note": "Trừ rầy nâu khi mật độ trên 3.000 con/m²."}),
        DemoStep(70, 7, "care", {
            "activity": "Khử lẫn: nhổ bỏ cây khác giống"}, photo="rice_field"),
        DemoStep(80, 16, "spraying", {
            "product": "Amistar Top 325SC",
            "active_ingredient": "Azoxystrobin 200 g/l + Difenoconazole 125 g/l",
            "dose": "10 ml / bình 16 lít", "phi_days": 14,
            "note": "Phòng lem lép hạt giai đoạn trổ."}),
        DemoStep(105, 7, "harvest", {
            "quantity": "7200", "note": "Lúa tươi, gặt bằng máy gặt đập liên hợp."}),
        DemoStep(110, 9, "inspection", {
            "inspector": "Trung tâm Chứng nhận Phù hợp (QUACERT)",
            "certificate_number": "VietGAP-TT-20-14-94-0052", "result": "pass",
            "note": "Đánh giá giám sát VietGAP và lấy mẫu gạo kiểm dư lượng."}),
        DemoStep(112, 8, "packing", {
            "pack_size": "5", "pack_count": 800,
            "note": "Gạo xát trắng, túi hút chân không 5 kg."}),
        DemoStep(114, 6, "transport", {
            "handed_to": "HTX Nông nghiệp Gia Hòa", "vehicle": "Xe tải 83C-045.12"}),
    ),
)  # fmt: skip

HOUSEHOLDS = (
    DemoHousehold(
        phone="0901 234 501",
        profile={
            "head_name": "Nguyễn Văn Hùng",
            "hamlet": "Thôn Tân Hương",
            "commune": "Xã Phúc Trạch, huyện Hương Khê",
            "province": "Hà Tĩnh",
            "crops": "Bưởi Phúc Trạch (1,2 ha, khoảng 350 gốc, trồng từ 2012); gừng xen dưới tán.",
            "sanitation": "Nhà tiêu tự hoại hợp vệ sinh; nước sinh hoạt từ giếng khoan qua bể lọc.",
            "waste_treatment": "Vỏ bao bì thuốc BVTV bỏ vào bể thu gom của thôn; cành tỉa và quả "
            "rụng ủ với chế phẩm Trichoderma làm phân.",
            "certificates": "VietGAP trồng trọt số VietGAP-TT-21-05-42-0031; được dùng chỉ dẫn "
            "địa lý “Phúc Trạch” cho quả bưởi.",
        },
        share_location=True,
        payout={
            "bank_bin": "970405",  # Agribank
            "bank_account": "3704205123456",
            "bank_account_name": "NGUYEN VAN HUNG",
        },
        batches=(POMELO, POMELO_YOUNG),
    ),
    DemoHousehold(
        phone="0901 234 502",
        profile={
            "head_name": "Trần Thị Mai",
            "hamlet": "Thôn Trung Hà",
            "commune": "Xã Hương Trạch, huyện Hương Khê",
            "province": "Hà Tĩnh",
            "crops": "Rau ăn lá (cải ngọt, cải bẹ xanh, xà lách) 2.000 m², có nhà lưới.",
            "sanitation": "Nhà tiêu tự hoại; nước tưới giếng khoan đã xét nghiệm đạt QCVN "
            "39:2011/BTNMT.",
            "waste_treatment": "Rau loại ủ phân compost tại vườn; bao bì thuốc sinh học gom về "
            "điểm tập kết của xã.",
            "certificates": "VietGAP rau ăn lá số VietGAP-TT-22-11-42-0008.",
        },
        share_location=False,
        payout=None,
        batches=(MUSTARD_GREENS, MUSTARD_LEAVES),
    ),
    DemoHousehold(
        phone="0901 234 503",
        profile={
            "head_name": "Lâm Văn Tài",
            "hamlet": "Ấp Hòa Nhờ A",
            "commune": "Xã Gia Hòa 2, huyện Mỹ Xuyên",
            "province": "Sóc Trăng",
            "crops": "Lúa ST25 luân canh tôm càng xanh (mô hình lúa – tôm), 3 ha.",
            "sanitation": "Nhà tiêu tự hoại; nước sinh hoạt từ trạm cấp nước tập trung của xã.",
            "waste_treatment": "Rơm rạ cuộn bán trồng nấm, không đốt đồng; bao bì thuốc BVTV bỏ "
            "vào bể chứa đầu bờ kênh.",
            "certificates": "VietGAP lúa gạo số VietGAP-TT-20-14-94-0052; thành viên HTX Nông "
            "nghiệp Gia Hòa.",
        },
        share_location=False,
        payout={
            "bank_bin": "970405",
            "bank_account": "7606205987654",
            "bank_account_name": "LAM VAN TAI",
        },
        batches=(RICE,),
    ),
)


# -- drawings (no downloads: simple shapes, deterministic bytes) -----------------------------------

SIZE = (800, 600)


def _pomelo_tree(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    draw.rectangle((0, 0, 800, 600), fill=(168, 206, 232))
    draw.rectangle((0, 470, 800, 600), fill=(120, 92, 60))
    draw.rectangle((370, 300, 430, 500), fill=(96, 70, 44))
    for _ in range(70):
        x, y, r = rng.randint(150, 650), rng.randint(60, 360), rng.randint(40, 80)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(40 + rng.randint(0, 30), 110, 50))
    for _ in range(9):  # fruit in paper bags
        x, y = rng.randint(210, 590), rng.randint(170, 380)
        draw.rectangle((x - 26, y - 40, x + 26, y + 30), fill=(236, 226, 196))
        draw.line((x, y - 40, x, y - 70), fill=(70, 60, 40), width=3)


def _pomelo_harvest(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    draw.rectangle((0, 0, 800, 600), fill=(222, 210, 180))
    draw.polygon(((80, 560), (720, 560), (660, 330), (140, 330)), fill=(150, 110, 60))
    for row in range(4):
        for col in range(7 - row):
            x = 190 + col * 70 + row * 35 + rng.randint(-6, 6)
            y = 470 - row * 55 + rng.randint(-5, 5)
            green = (150 + rng.randint(0, 40), 190 + rng.randint(0, 30), 70)
            draw.ellipse((x - 40, y - 38, x + 40, y + 38), fill=green, outline=(90, 120, 40))


def _greens(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    draw.rectangle((0, 0, 800, 600), fill=(110, 84, 58))
    for row in range(5):
        y = 80 + row * 110
        draw.rectangle((0, y + 45, 800, y + 60), fill=(88, 66, 44))
        for col in range(10):
            x = 45 + col * 80 + rng.randint(-8, 8)
            for _ in range(5):
                dx, dy = rng.randint(-22, 22), rng.randint(-18, 12)
                shade = (50 + rng.randint(0, 40), 150 + rng.randint(0, 60), 60)
                draw.ellipse((x + dx - 18, y + dy - 26, x + dx + 18, y + dy + 26), fill=shade)


def _rice_field(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    draw.rectangle((0, 0, 800, 260), fill=(150, 200, 235))
    draw.ellipse((620, 40, 700, 120), fill=(255, 236, 150))
    draw.rectangle((0, 260, 800, 600), fill=(196, 170, 70))
    for y in range(270, 600, 14):
        for _ in range(60):
            x = rng.randint(0, 800)
            draw.line((x, y, x + rng.randint(-6, 6), y - 18), fill=(220, 190, 80), width=2)
    draw.line((0, 262, 800, 256), fill=(70, 110, 60), width=8)


DRAWINGS: Mapping[str, Callable[[ImageDraw.ImageDraw, random.Random], None]] = {
    "pomelo_tree": _pomelo_tree,
    "pomelo_harvest": _pomelo_harvest,
    "greens": _greens,
    "rice_field": _rice_field,
}


def drawing(name: str) -> bytes:
    """A JPEG of the named drawing; the same bytes every time."""
    image = Image.new("RGB", SIZE)
    DRAWINGS[name](ImageDraw.Draw(image), random.Random(name))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88)
    return out.getvalue()


# -- seeding ---------------------------------------------------------------------------------------


def _user(session: Session, phone: str) -> User | None:
    return session.scalar(select(User).where(User.phone == normalise_phone(phone)))


def _ensure_admin(session: Session, counts: dict[str, int]) -> User:
    admin = _user(session, ADMIN_PHONE)
    if admin is None:
        counts["accounts"] += 1
        return create_admin(session, phone=ADMIN_PHONE, password=DEMO_PASSWORD, name=ADMIN_NAME)
    if admin.role is not Role.ADMIN:
        raise Conflict(f"{ADMIN_PHONE} belongs to a household, not to the co-op admin")
    return admin


def _ensure_household(
    session: Session, goc: Goc, admin: User, spec: DemoHousehold, counts: dict[str, int]
) -> User:
    user = _user(session, spec.phone)
    if user is None:
        household = enroll_household(
            session,
            goc,
            actor=admin,
            profile=dict(spec.profile),
            phone=spec.phone,
            password=DEMO_PASSWORD,
            member_name=spec.profile["head_name"],
            share_location=spec.share_location,
        )
        user = _user(session, spec.phone)
        assert user is not None
        if spec.payout:
            update_profile(
                session, goc, actor=user, household=household, public={}, private=dict(spec.payout)
            )
        counts["accounts"] += 1
    elif user.household is None:
        raise Conflict(f"{spec.phone} belongs to the co-op admin, not to a household")
    return user


def _ensure_batch(
    session: Session, goc: Goc, user: User, spec: DemoBatch, today: date, counts: dict[str, int]
) -> Batch:
    batch = session.scalar(
        select(Batch).where(Batch.household_id == user.household_id, Batch.lot == spec.lot)
    )
    if batch is None:
        start = today - timedelta(days=spec.days_ago)
        data = {**spec.fields, "lot": spec.lot, "start_date": start.isoformat()}
        batch = create_batch(session, goc, actor=user, data=data)
        counts["batches"] += 1
    return batch


def _ensure_steps(
    session: Session, goc: Goc, user: User, batch: Batch, spec: DemoBatch, counts: dict[str, int]
) -> None:
    recorded = {
        (kind, at)
        for kind, at in session.execute(
            select(Step.kind, Step.occurred_at).where(Step.batch_id == batch.id)
        )
    }
    share_location = bool(user.household and user.household.share_location)
    for step in spec.steps:
        local = datetime.combine(batch.start_date + timedelta(days=step.day), time(step.hour))
        occurred_at = local.replace(tzinfo=VIETNAM).astimezone(UTC)
        if (step.kind, occurred_at) in recorded:
            continue
        photos = (
            [prepare_photo(drawing(step.photo), keep_location=share_location)] if step.photo else []
        )
        record_step(
            session,
            goc,
            actor=user,
            batch=batch,
            kind=step.kind,
            data={**step.data, "occurred_at": occurred_at.isoformat()},
            photos=photos,
        )
        counts["steps"] += 1


def seed_demo(session: Session, goc: Goc, *, today: date | None = None) -> SeedResult:
    """Create whatever part of the demo hamlet is missing; returns its accounts and batches."""
    today = today or datetime.now(VIETNAM).date()
    counts = {"accounts": 0, "batches": 0, "steps": 0}
    result = SeedResult(admin=_ensure_admin(session, counts), created=counts)
    for spec in HOUSEHOLDS:
        user = _ensure_household(session, goc, result.admin, spec, counts)
        result.households.append(user)
        for batch_spec in spec.batches:
            batch = _ensure_batch(session, goc, user, batch_spec, today, counts)
            _ensure_steps(session, goc, user, batch, batch_spec, counts)
            if batch_spec.offer is not None:
                # Once on sale, the household's own changes (and the buyers') are kept.
                if offer_of(session, batch) is None:
                    set_offer(session, actor=user, batch=batch, data=batch_spec.offer)
                result.on_sale = batch
            result.batches.append(batch)
    return result

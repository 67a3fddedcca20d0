from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..search import search_key
from ._types import UTCDateTime, utcnow

# Fields shown on public pages and attested in the ledger; everything else is private.
PUBLIC_FIELDS = (
    "head_name",
    "hamlet",
    "commune",
    "province",
    "crops",
    "sanitation",
    "waste_treatment",
    "certificates",
)


class Household(db.Model):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # public: /h/<code>
    head_name: Mapped[str] = mapped_column(String(120))
    hamlet: Mapped[str] = mapped_column(String(120), default="")
    commune: Mapped[str] = mapped_column(String(120), default="")
    province: Mapped[str] = mapped_column(String(120), default="")
    crops: Mapped[str] = mapped_column(Text, default="")
    sanitation: Mapped[str] = mapped_column(Text, default="")
    waste_treatment: Mapped[str] = mapped_column(Text, default="")
    certificates: Mapped[str] = mapped_column(Text, default="")
    share_location: Mapped[bool] = mapped_column(Boolean, default=False)
    # private
    phone: Mapped[str] = mapped_column(String(16), default="")
    bank_bin: Mapped[str] = mapped_column(String(8), default="")
    bank_account: Mapped[str] = mapped_column(String(32), default="")
    bank_account_name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Folded public name and address for the marketplace search (see app.search).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    members = relationship("User", back_populates="household")
    keys = relationship("HouseholdKey", back_populates="household", order_by="HouseholdKey.id")
    batches = relationship("Batch", back_populates="household", order_by="Batch.id.desc()")

    @property
    def subject(self) -> str:
        """The household's ledger subject (its profile and keys)."""
        return f"household:{self.code}"

    @property
    def active_key(self) -> HouseholdKey | None:
        live = [k for k in self.keys if k.revoked_at is None]
        return live[-1] if live else None

    @property
    def has_payout_account(self) -> bool:
        return bool(self.bank_bin and self.bank_account and self.bank_account_name)

    def public_profile(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    def index_for_search(self) -> None:
        """Refresh ``search_text`` after a change of the public name or address."""
        self.search_text = search_key(self.head_name, self.hamlet, self.commune, self.province)


class HouseholdKey(db.Model):
    """A household signing key; the seed is sealed with AES-256-GCM under LEDGER_KEK."""

    __tablename__ = "household_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    sealed_seed: Mapped[bytes] = mapped_column(LargeBinary)
    registered_seq: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_seq: Mapped[int | None] = mapped_column()

    household = relationship("Household", back_populates="keys")

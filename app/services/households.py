"""Enrolling households, their signing keys, and their profiles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import String, or_, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from ledger import KEY_REGISTER, KEY_REVOKE, NoteSigner
from ledger.encoding import b64encode

from ..context import Goc
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import OPEN_STATUSES, Batch, Household, HouseholdKey, Offer, Order, Role, User
from ..models._types import utcnow
from ..models.households import PUBLIC_FIELDS
from ..vietqr import BANKS_BY_BIN, VietQRError, build
from .codes import new_code
from .ledger_statements import append, begin_write, household_signer, sign

PROFILE_KIND = "household.profile"
MAX_TEXT = 2000  # free-text profile fields (crops, sanitation...) stored as TEXT


def get_household(session: Session, code: str) -> Household:
    household = session.scalar(select(Household).where(Household.code == code))
    if household is None:
        raise NotFound(_("No household with that code."))
    return household


def check_lengths(model: type[Any], values: Mapping[str, Any], **fields: str) -> None:
    """Raise ValidationFailed for text longer than its column (PostgreSQL would refuse it).

    ``values`` are keyed by column name; ``fields`` renames a column to its form field name.
    """
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        column = model.__table__.columns.get(name)
        if column is None or not isinstance(value, str):
            continue
        limit = column.type.length if isinstance(column.type, String) else None
        limit = limit or MAX_TEXT
        if len(value.strip()) > limit:
            errors[fields.get(name, name)] = [_("Use at most %(n)d characters.", n=limit)]
    if errors:
        raise ValidationFailed(_("Please correct the highlighted fields."), errors=errors)


def normalise_phone(raw: str, *, field: str = "phone") -> str:
    """A Vietnamese phone number in E.164 (``+84912345678``); raise ValidationFailed if invalid."""
    try:
        number = phonenumbers.parse(raw, "VN")
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(
            _("Invalid phone number."),
            errors={field: [_("Enter a phone number such as 0912 345 678.")]},
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(
            _("Invalid phone number."),
            errors={field: [_("Enter a phone number such as 0912 345 678.")]},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_phone(e164: str) -> str:
    """A stored E.164 number as people in Vietnam write it (0912 345 678)."""
    try:
        number = phonenumbers.parse(e164, "VN")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def check_password(password: str, field: str = "password") -> str:
    if len(password) < 8:
        raise ValidationFailed(
            _("Password too short."), errors={field: [_("Use at least 8 characters.")]}
        )
    if len(password) > 128:
        raise ValidationFailed(
            _("Password too long."), errors={field: [_("Use at most 128 characters.")]}
        )
    return password


def require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden(_("Only the co-op's digital team can do that."))


def _register_statement(goc: Goc, household: Household, signer: NoteSigner) -> Any:
    body = {"public_key": b64encode(signer.public_key), "household": household.code}
    return sign(goc.authority, KEY_REGISTER, household.subject, body)


def _profile_statement(goc: Goc, household: Household, signer: NoteSigner) -> Any:
    return sign(signer, PROFILE_KIND, household.subject, household.public_profile())


def enroll_household(
    session: Session,
    goc: Goc,
    *,
    actor: User,
    profile: dict[str, str],
    phone: str,
    password: str,
    member_name: str,
    share_location: bool = False,
) -> Household:
    """Create a household with its login and signing key, registered in the ledger."""
    require_admin(actor)
    phone = normalise_phone(phone)
    check_password(password)
    check_lengths(Household, {k: profile.get(k, "") for k in PUBLIC_FIELDS})
    check_lengths(User, {"name": member_name}, name="member_name")
    begin_write(session)
    if session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise ValidationFailed(
            _("That phone number is already in use."),
            errors={"phone": [_("That phone number is already in use.")]},
        )
    if not profile.get("head_name", "").strip():
        raise ValidationFailed(
            _("Head of household is required."), errors={"head_name": [_("Required.")]}
        )
    household = Household(code=new_code("H"), phone=phone, share_location=share_location,
                          **{k: profile.get(k, "").strip() for k in PUBLIC_FIELDS})  # fmt: skip
    household.index_for_search()
    session.add(household)
    signer = NoteSigner.generate(household.subject)
    entries = append(
        session,
        goc,
        [
            _register_statement(goc, household, signer),
            _profile_statement(goc, household, goc.authority),
        ],
    )
    session.add(
        HouseholdKey(
            household=household,
            key_id=signer.key_id,
            sealed_seed=goc.custody.seal(signer),
            registered_seq=entries[0].seq,
        )
    )
    session.add(
        User(
            phone=phone,
            name=member_name.strip() or household.head_name,
            password_hash=generate_password_hash(password),
            role=Role.HOUSEHOLD,
            household=household,
        )
    )
    session.commit()
    return household


def reissue_key(
    session: Session, goc: Goc, *, actor: User, household: Household, reason: str
) -> HouseholdKey:
    """Revoke the household's current key (if any) and register a new one, atomically.

    Entries signed by the old key keep verifying: revocation applies from its seq onwards.
    """
    require_admin(actor)
    begin_write(session)
    statements = []
    current = household.active_key
    if current is not None:
        body = {"key": current.key_id, "reason": reason or "reissued"}
        statements.append(sign(goc.authority, KEY_REVOKE, household.subject, body))
    signer = NoteSigner.generate(household.subject)
    statements.append(_register_statement(goc, household, signer))
    entries = append(session, goc, statements)
    if current is not None:
        current.revoked_at = utcnow()
        current.revoked_seq = entries[0].seq
    key = HouseholdKey(
        household=household,
        key_id=signer.key_id,
        sealed_seed=goc.custody.seal(signer),
        registered_seq=entries[-1].seq,
    )
    session.add(key)
    session.commit()
    return key


def revoke_key(
    session: Session, goc: Goc, *, actor: User, household: Household, reason: str
) -> None:
    """Revoke the household's key without a replacement (e.g. a lost phone, pending reissue)."""
    require_admin(actor)
    begin_write(session)
    current = household.active_key
    if current is None:
        raise Conflict(_("This household has no active key."))
    body = {"key": current.key_id, "reason": reason or "revoked"}
    [entry] = append(session, goc, [sign(goc.authority, KEY_REVOKE, household.subject, body)])
    current.revoked_at = utcnow()
    current.revoked_seq = entry.seq
    session.commit()


PAYOUT_FIELDS = ("bank_bin", "bank_account", "bank_account_name")


def check_payout_account(household: Household, *, field: str) -> None:
    """Selling needs an account a VietQR can carry: a NAPAS BIN and a plain account number.
    ``field`` names the form field the error belongs to."""
    if not household.has_payout_account:
        raise ValidationFailed(
            _("Add your bank account to the household profile first."),
            errors={field: [_("Buyers pay by bank transfer to your account.")]},
        )
    try:
        build(bank_bin=household.bank_bin, account=household.bank_account, amount=1, purpose="GOC")
    except VietQRError:
        valid = False
    else:
        valid = household.bank_bin in BANKS_BY_BIN
    if not valid:
        raise ValidationFailed(
            _("The bank account in your profile cannot be paid by VietQR."),
            errors={
                field: [
                    _("Check the bank code (6-digit BIN) and the account number in your profile.")
                ]
            },
        )


def _selling(session: Session, household: Household) -> bool:
    """A batch on sale, or an order whose buyer may still be paying into the account."""
    on_sale = (
        select(Offer.batch_id)
        .join(Batch, Batch.id == Offer.batch_id)
        .where(Batch.household_id == household.id, Offer.on_sale)
    )
    awaiting = (
        select(Order.id)
        .join(Batch, Batch.id == Order.batch_id)
        .where(Batch.household_id == household.id, Order.status.in_(OPEN_STATUSES))
    )
    return bool(session.scalar(select(or_(on_sale.exists(), awaiting.exists()))))


def update_profile(
    session: Session,
    goc: Goc,
    *,
    actor: User,
    household: Household,
    public: dict[str, str],
    private: dict[str, Any],
) -> Household:
    """Change a household's profile; a change of public fields is a signed ledger statement."""
    if actor.role is not Role.ADMIN and actor.household_id != household.id:
        raise Forbidden(_("You can only change your own household."))
    check_lengths(Household, {k: v for k, v in public.items() if k in PUBLIC_FIELDS})
    check_lengths(Household, {k: v for k, v in private.items() if k != "phone"})
    begin_write(session)
    if "head_name" in public and not public["head_name"].strip():
        raise ValidationFailed(
            _("Head of household is required."), errors={"head_name": [_("Required.")]}
        )
    before = household.public_profile()
    for name in PUBLIC_FIELDS:
        if name in public:
            setattr(household, name, public[name].strip())
    for name in ("bank_bin", "bank_account", "bank_account_name", "share_location"):
        if name in private:
            setattr(household, name, private[name])
    if private.get("phone"):
        household.phone = normalise_phone(private["phone"])
    if any(name in private for name in PAYOUT_FIELDS) and _selling(session, household):
        check_payout_account(household, field="bank_account")
    if household.public_profile() != before:
        household.index_for_search()
        signer = goc.authority if actor.role is Role.ADMIN else household_signer(goc, household)
        append(session, goc, [_profile_statement(goc, household, signer)])
    session.commit()
    return household

"""Logging in (with throttling), admin accounts and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import TooManyRequests, ValidationFailed
from ..models import ApiToken, LoginAttempt, Role, User
from ..models._types import utcnow
from .households import check_password, normalise_phone
from .ledger_statements import begin_write

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PHONE = 5
MAX_FAILURES_PER_ADDRESS = 30
# Compared against when the phone is unknown, so timing does not reveal which phones exist.
_DUMMY_HASH = generate_password_hash("not a real password")


def authenticate(session: Session, *, phone: str, password: str, address: str) -> User:
    """Return the user for these credentials, or raise (ValidationFailed / TooManyRequests)."""
    invalid = ValidationFailed(
        _("Wrong phone number or password."),
        errors={"password": [_("Wrong phone number or password.")]},
    )
    try:
        phone = normalise_phone(phone)
    except ValidationFailed:
        raise invalid from None
    begin_write(session)
    since = utcnow() - WINDOW
    by_phone = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.phone == phone, LoginAttempt.at >= since)
    )
    by_address = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.address == address, LoginAttempt.at >= since)
    )
    if (by_phone or 0) >= MAX_FAILURES_PER_PHONE or (by_address or 0) >= MAX_FAILURES_PER_ADDRESS:
        raise TooManyRequests(_("Too many failed attempts. Please wait 15 minutes and try again."))
    user = session.scalar(select(User).where(User.phone == phone))
    if (
        not check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
        or user is None
    ):
        session.add(LoginAttempt(phone=phone, address=address[:64]))
        session.commit()
        raise invalid
    return user


def create_admin(session: Session, *, phone: str, password: str, name: str) -> User:
    phone = normalise_phone(phone)
    check_password(password)
    begin_write(session)
    if session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise ValidationFailed(
            _("That phone number is already in use."),
            errors={"phone": [_("That phone number is already in use.")]},
        )
    user = User(
        phone=phone, name=name, password_hash=generate_password_hash(password), role=Role.ADMIN
    )
    session.add(user)
    session.commit()
    return user


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, *, user: User, label: str = "") -> str:
    """Create a bearer token for ``user``; the plain token is returned once and never stored."""
    token = "goc_" + secrets.token_urlsafe(32)
    begin_write(session)
    session.add(ApiToken(user=user, token_hash=token_hash(token), label=label[:80]))
    session.commit()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    record = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None)
        )
    )
    return record.user if record is not None else None

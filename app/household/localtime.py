"""Households read and type times in Vietnam's local time; the database and ledger keep UTC."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows
DISPLAY_FORMAT = "%d/%m/%Y %H:%M"  # the Vietnamese day/month/year order


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()


def to_local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def display(moment: datetime) -> str:
    return to_local(moment).strftime(DISPLAY_FORMAT)


def input_value(moment: datetime) -> str:
    return to_local(moment).strftime(INPUT_FORMAT)


def from_input(value: str) -> str:
    """A datetime-local value, read as Vietnam time, as an ISO 8601 string with its offset.

    Anything unparseable is passed through unchanged, so the schema reports it against the field.
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.isoformat()

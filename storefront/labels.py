"""Printable A4 sheets of batch stickers, for households to print at the cultural house.

Each layout divides the A4 page into an even grid (the label stock sold in Vietnamese
stationery shops comes in these counts); labels.css sizes the QR code and text per layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from .pages import BadParameter


@dataclass(frozen=True)
class Layout:
    per_page: int
    columns: int
    rows: int


LAYOUTS = {
    layout.per_page: layout
    for layout in (
        Layout(8, 2, 4),
        Layout(12, 3, 4),
        Layout(21, 3, 7),
        Layout(24, 3, 8),
        Layout(40, 4, 10),
    )
}
DEFAULT_PER_PAGE = 21


def layout(per_page: str | None) -> Layout:
    """The layout for ``?per_page=``; anything but a listed count is a BadParameter."""
    if per_page is None:
        return LAYOUTS[DEFAULT_PER_PAGE]
    chosen = LAYOUTS.get(int(per_page)) if per_page.strip().isdigit() else None
    if chosen is None:
        counts = ", ".join(map(str, LAYOUTS))
        raise BadParameter(
            _("Choose how many stickers per page."),
            errors={"per_page": [_("Use one of %(counts)s.", counts=counts)]},
        )
    return chosen

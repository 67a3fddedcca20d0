"""A batch as one GS1 EPCIS 2.0 document (JSON-LD), for co-ops' and retailers' systems.

Modelling (docs/ledger-format.md, "EPCIS export", gives the reasons at more length):

- Each recorded step is one ``ObjectEvent`` about the batch's lot: its class identifier is the
  batch's GS1 Digital Link on our resolver (``/01/<gtin>/10/<lot>``) when it has a GTIN, else the
  batch page ``/b/<code>``. Both are the URLs its QR code carries.
- The harvest is ``commissioning`` (CBV: "harvesting (of fruit/vegetable)"), action ``ADD``,
  disposition ``active``, with the harvested quantity and the harvest date as ILMD. Packing,
  inspection and transport take the CBV steps ``packing``, ``inspecting`` and ``shipping``. CBV
  has no planting, fertilising, spraying, irrigation or care step: those (and notes) get our own
  bizStep URI ``<ns>BizStep-<kind>``, as CBV 2.0 allows any URI outside its namespace.
- Households and plots have no GLN. ``bizLocation`` is the household's public page
  ``/h/<code>``, the farm's stable public identity; ``readPoint`` is the plot within it, that page
  with a fragment (``#plot-<name>``): a part of the farm, on the same resolvable identifier.
- ``eventTime`` is Vietnam's local time with ``eventTimeZoneOffset`` "+07:00"; ``eventID`` is the
  RFC 6920 ``ni:`` name of the ledger entry (its SHA-256 entry hash), which ``goc:entryHash`` and
  ``goc:seq`` also carry so a reader can fetch and verify the signed entry under /ledger.
- A correction becomes an ``errorDeclaration`` on the event it corrects and, when it carries
  corrected values, a corrective event naming the ledger entry of the correction.

Our terms live in the namespace ``<PUBLIC_BASE_URL>/ns/epcis/`` (prefix ``goc``): minted only on
the domain the operator controls, with the same local names in every deployment.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from app.household import localtime
from app.models import Batch, Step

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MEDIA_TYPE = "application/ld+json"
TIME_ZONE_OFFSET = "+07:00"  # Asia/Ho_Chi_Minh has no daylight saving time
CORRECTION = "correct"
# The CBV 2.0 business step that fits each of our step kinds; the others get our own URI.
CBV_STEPS = {
    "harvest": "commissioning",
    "packing": "packing",
    "inspection": "inspecting",
    "transport": "shipping",
}
DISPOSITIONS = {
    "harvest": "active",
    "transport": "in_transit",
}
INSPECTION_DISPOSITIONS = {"pass": "conformant", "fail": "non_conformant"}
# UN/ECE Recommendation 20 codes of the batch units that measure; the other units count whole
# items (fruit, trees, bunches, bags, cartons, boxes), which EPCIS expresses with no uom.
UOM = {"kg": "KGM", "tấn": "TNE", "lít": "LTR"}
# Fields of a step body that describe the batch, not the step (repeated in every body).
BATCH_FIELDS = ("batch", "unit", "photos")


def namespace(base_url: str) -> str:
    return f"{base_url}/ns/epcis/"


def lot_class(base_url: str, batch: Batch) -> str:
    if batch.gtin:
        return f"{base_url}/01/{batch.gtin}/10/{quote(batch.lot, safe='')}"
    return f"{base_url}/b/{quote(batch.code, safe='')}"


def entry_name(entry_hash: bytes) -> str:
    """RFC 6920 named information URI of a ledger entry by its SHA-256 hash."""
    return "ni:///sha-256;" + base64.urlsafe_b64encode(entry_hash).decode().rstrip("=")


def _local_time(moment: datetime) -> str:
    return localtime.to_local(moment).isoformat()


def _number(value: Any) -> int | float:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in BATCH_FIELDS and v not in (None, "")}


class _Document:
    def __init__(self, base_url: str, batch: Batch) -> None:
        self.base_url = base_url
        self.ns = namespace(base_url)
        self.batch = batch
        self.epc_class = lot_class(base_url, batch)
        household = f"{base_url}/h/{quote(batch.household.code, safe='')}"
        self.biz_location = household
        self.read_point = (
            f"{household}#plot-{quote(batch.plot, safe='')}" if batch.plot else household
        )

    def event(
        self, step: Step, kind: str, values: dict[str, Any], occurred_at: datetime
    ) -> dict[str, Any]:
        quantity: dict[str, Any] = {"epcClass": self.epc_class}
        event: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventID": entry_name(step.entry_hash),
            "eventTime": _local_time(occurred_at),
            "eventTimeZoneOffset": TIME_ZONE_OFFSET,
            "recordTime": step.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "action": "ADD" if kind == "harvest" else "OBSERVE",
            "bizStep": CBV_STEPS.get(kind, f"{self.ns}BizStep-{kind}"),
            "quantityList": [quantity],
            "readPoint": {"id": self.read_point},
            "bizLocation": {"id": self.biz_location},
        }
        disposition = DISPOSITIONS.get(kind)
        if kind == "inspection":
            disposition = INSPECTION_DISPOSITIONS.get(values.get("result", ""))
        if disposition:
            event["disposition"] = disposition
        if kind == "harvest":
            quantity["quantity"] = _number(values["quantity"])
            if self.batch.unit in UOM:
                quantity["uom"] = UOM[self.batch.unit]
            day = localtime.to_local(occurred_at).date().isoformat()
            event["ilmd"] = {"cbvmda:harvestStartDate": day, "cbvmda:harvestEndDate": day}
        event["goc:stepKind"] = kind
        event["goc:unit"] = self.batch.unit
        event["goc:fields"] = _fields({k: v for k, v in values.items() if k != "occurred_at"})
        if values.get("photos"):
            event["goc:photos"] = [f"{self.base_url}/p/{p['sha256']}.jpg" for p in values["photos"]]
        event["goc:seq"] = step.seq
        event["goc:entryHash"] = step.entry_hash.hex()
        return event

    def events(self, steps: list[Step]) -> list[dict[str, Any]]:
        originals = {
            s.id: self.event(s, s.kind, s.data, s.occurred_at)
            for s in steps
            if s.kind != CORRECTION
        }
        events = []
        for step in steps:
            if step.kind != CORRECTION:
                events.append(originals[step.id])
                continue
            original = step.corrects  # a step of the same batch, recorded before
            declaration: dict[str, Any] = {
                "declarationTime": _local_time(step.occurred_at),
                "reason": "incorrect_data",
                "goc:reason": step.data.get("reason", ""),
            }
            replacement = step.data.get("replacement")
            if replacement is not None:
                occurred = datetime.fromisoformat(replacement["occurred_at"])
                corrective = self.event(step, original.kind, replacement, occurred)
                corrective["goc:corrects"] = original.entry_hash.hex()
                declaration["correctiveEventIDs"] = [corrective["eventID"]]
                events.append(corrective)
            originals[original.id]["errorDeclaration"] = declaration
        return events


def batch_document(
    base_url: str, batch: Batch, steps: list[Step], *, now: datetime
) -> dict[str, Any]:
    """The EPCISDocument of ``batch`` with its ``steps`` (in ledger order)."""
    document = _Document(base_url, batch)
    return {
        "@context": [EPCIS_CONTEXT, {"goc": document.ns}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "epcisBody": {"eventList": document.events(sorted(steps, key=lambda s: s.seq))},
    }

"""GET /b/<code>/epcis.jsonld: one EPCIS 2.0 document per batch, valid against GS1's JSON Schema,
with the harvest as commissioning, CBV or our own bizSteps, corrections as error declarations,
and each event tied to its ledger entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select

from app.context import goc
from app.extensions import db
from app.models import Batch, Step
from app.services import batches as service
from storefront.epcis import entry_name
from tests.batches import batch_with_steps, household_user
from tests.support import HOUSEHOLD_PHONES, ROOT

EPCIS = ROOT.parent / "shared" / "vectors" / "epcis"
BASE = "http://goc.test"
NS = f"{BASE}/ns/epcis/"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((EPCIS / "EPCIS-JSON-Schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def when(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def steps() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("planting", {"seed_source": "Vườn ươm Hương Khê", "occurred_at": when(20)}),
        (
            "spraying",
            {
                "product": "Chế phẩm nấm Trichoderma",
                "active_ingredient": "Trichoderma spp.",
                "dose": "20 g / bình 16 l",
                "phi_days": 0,
                "occurred_at": when(15),
            },
        ),
        ("harvest", {"quantity": "120.5", "note": "Hái sáng sớm", "occurred_at": when(5)}),
        ("packing", {"pack_size": "5", "pack_count": 24, "occurred_at": when(4)}),
        ("inspection", {"inspector": "VietGAP Hà Tĩnh", "result": "pass", "occurred_at": when(3)}),
        ("transport", {"handed_to": "HTX Phúc Trạch", "occurred_at": when(2)}),
    ]


def document(client: Any, code: str) -> dict[str, Any]:
    response = client.get(f"/b/{code}/epcis.jsonld")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    return json.loads(response.get_data(as_text=True))


def by_kind(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["goc:stepKind"]: e for e in doc["epcisBody"]["eventList"]}


def test_official_examples_validate_and_a_broken_one_does_not(
    validator: jsonschema.Draft7Validator,
) -> None:
    for example in (EPCIS / "examples").glob("*.jsonld"):
        validator.validate(json.loads(example.read_text(encoding="utf-8")))
    broken = json.loads((EPCIS / "examples" / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    broken["epcisBody"]["eventList"][0]["eventTimeZoneOffset"] = "+7"
    assert not validator.is_valid(broken)


def test_a_batch_is_one_valid_epcis_document(
    app: Any, client: Any, validator: jsonschema.Draft7Validator
) -> None:
    with app.app_context():
        code = batch_with_steps(HOUSEHOLD_PHONES[0], steps(), gtin="8930000000019", lot="LOT2505A")
        household = db.session.scalar(select(Batch).where(Batch.code == code)).household.code
    doc = document(client, code)
    validator.validate(doc)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert doc["@context"][1] == {"goc": NS}
    events = by_kind(doc)
    assert len(doc["epcisBody"]["eventList"]) == len(events) == 6
    lot = f"{BASE}/01/08930000000019/10/LOT2505A"  # the batch's GS1 Digital Link

    harvest = events["harvest"]
    assert (harvest["type"], harvest["action"], harvest["bizStep"], harvest["disposition"]) == (
        "ObjectEvent",
        "ADD",
        "commissioning",
        "active",
    )
    assert harvest["quantityList"] == [{"epcClass": lot, "quantity": 120.5, "uom": "KGM"}]
    assert harvest["ilmd"]["cbvmda:harvestStartDate"] == harvest["eventTime"][:10]
    assert harvest["goc:fields"] == {"quantity": "120.5", "note": "Hái sáng sớm"}

    assert events["packing"]["bizStep"] == "packing"
    assert (events["inspection"]["bizStep"], events["inspection"]["disposition"]) == (
        "inspecting",
        "conformant",
    )
    assert (events["transport"]["bizStep"], events["transport"]["disposition"]) == (
        "shipping",
        "in_transit",
    )
    assert events["spraying"]["bizStep"] == f"{NS}BizStep-spraying"
    assert events["planting"]["bizStep"] == f"{NS}BizStep-planting"

    with app.app_context():
        ledger = goc().ledger
        for event in doc["epcisBody"]["eventList"]:
            assert event["eventTimeZoneOffset"] == "+07:00"
            assert event["eventTime"].endswith("+07:00")
            assert event["quantityList"][0]["epcClass"] == lot
            assert event["bizLocation"] == {"id": f"{BASE}/h/{household}"}
            plot = "Th%E1%BB%ADa%2012%2C%20x%E1%BB%A9%20%C4%90%E1%BB%93ng%20C%E1%BB%ABa"
            assert event["readPoint"] == {"id": f"{BASE}/h/{household}#plot-{plot}"}
            entry = ledger.entry(event["goc:seq"])
            assert entry is not None and entry.hash.hex() == event["goc:entryHash"]
            assert event["eventID"] == entry_name(entry.hash)
            assert entry.statement.parse().kind == f"step.{event['goc:stepKind']}"


def test_a_correction_is_an_error_declaration_and_a_corrective_event(
    app: Any, client: Any, validator: jsonschema.Draft7Validator
) -> None:
    with app.app_context():
        code = batch_with_steps(HOUSEHOLD_PHONES[0], steps()[2:3], unit="quả", plot="")
        harvest = db.session.scalar(select(Step).join(Batch).where(Batch.code == code))
        service.correct_step(
            db.session,
            goc(),
            actor=household_user(HOUSEHOLD_PHONES[0]),
            step=harvest,
            data={"reason": "Cân nhầm", "quantity": "118", "occurred_at": when(5)},
        )
        household = harvest.batch.household.code
    doc = document(client, code)
    validator.validate(doc)
    original, corrective = doc["epcisBody"]["eventList"]
    assert original["quantityList"] == [{"epcClass": f"{BASE}/b/{code}", "quantity": 120.5}]
    assert corrective["quantityList"] == [{"epcClass": f"{BASE}/b/{code}", "quantity": 118}]
    assert corrective["bizStep"] == "commissioning"
    assert corrective["goc:corrects"] == original["goc:entryHash"]
    declaration = original["errorDeclaration"]
    assert declaration["reason"] == "incorrect_data"
    assert declaration["goc:reason"] == "Cân nhầm"
    assert declaration["correctiveEventIDs"] == [corrective["eventID"]]
    # A batch counted in fruit has no unit of measure: the quantity is a count of items.
    assert "uom" not in corrective["quantityList"][0] and corrective["goc:unit"] == "quả"
    # Without a plot, the read point is the farm itself.
    assert original["readPoint"] == {"id": f"{BASE}/h/{household}"}


def test_an_unknown_batch_is_not_found(client: Any) -> None:
    assert client.get("/b/NOPE/epcis.jsonld").status_code == 404

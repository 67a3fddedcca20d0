"""The JSON API under /api/v1: bearer tokens, batches, steps (JSON and multipart), corrections,
photos, idempotency, errors naming the field, and the OpenAPI document."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.context import goc
from app.extensions import db
from app.models import ApiToken, User
from app.models._types import utcnow
from app.services.accounts import issue_token, token_hash
from app.services.households import normalise_phone
from app.services.photos import MAX_PHOTO_BYTES
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, jpeg_bytes

BASE = "http://goc.test"
START = (date.today() - timedelta(days=30)).isoformat()
BATCH = {"product": "Bưởi Phúc Trạch", "variety": "Phúc Trạch", "unit": "quả", "start_date": START}
HARVEST = {"kind": "harvest", "quantity": "120.5", "note": "Hái sáng sớm"}

# Operations open to anyone (documented with an empty security requirement).
ANONYMOUS = {("/api/v1/orders", "POST"), ("/api/v1/orders/{token}", "GET")}


def token_for(app: Any, phone: str) -> str:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == normalise_phone(phone)))
        assert user is not None
        return issue_token(db.session, user=user, label="test")


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def ledger_size(app: Any) -> int:
    with app.app_context():
        return goc().ledger.size()


def path_of(url: str) -> str:
    assert url.startswith(BASE + "/"), url
    return url.removeprefix(BASE)


def hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


@pytest.fixture
def token(app: Any) -> str:
    """A token of the first household."""
    return token_for(app, HOUSEHOLD_PHONES[0])


@pytest.fixture
def other_token(app: Any) -> str:
    """A token of the second household."""
    return token_for(app, HOUSEHOLD_PHONES[1])


@pytest.fixture
def batch(client: Any, token: str) -> dict[str, Any]:
    response = client.post("/api/v1/batches", json=BATCH, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def steps_url(batch: dict[str, Any]) -> str:
    return f"/api/v1/batches/{batch['code']}/steps"


def post_multipart(
    client: Any,
    url: str,
    token: str,
    fields: dict[str, str],
    photos: list[bytes],
    *,
    photo_field: str = "photos",
    **headers: str,
) -> Any:
    """POST a multipart form, encoded in memory (the test client spools big ones to files it
    does not close)."""
    values = MultiDict(list(fields.items()))
    for i, photo in enumerate(photos):
        values.add(
            photo_field, FileStorage(io.BytesIO(photo), f"photo{i}.jpg", content_type="image/jpeg")
        )
    boundary, body = encode_multipart(values)
    return client.post(
        url,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=bearer(token, **headers),
    )


def assert_error(response: Any, status: int, field: str) -> dict[str, Any]:
    """A JSON error of ``status`` whose ``errors`` name ``field``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    assert body["code"] == status
    assert body["message"]
    assert field in body["errors"], body
    assert all(isinstance(m, str) and m for m in body["errors"][field]), body
    return body


class TestAuthentication:
    def test_missing_token_is_401_naming_the_header(self, client: Any) -> None:
        response = client.get("/api/v1/batches")
        body = assert_error(response, 401, "Authorization")
        assert body["status"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize(
        "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "goc_abc", "Bearer goc_wrong"]
    )
    def test_malformed_or_unknown_token_is_401(self, client: Any, header: str) -> None:
        response = client.get("/api/v1/batches", headers={"Authorization": header})
        assert_error(response, 401, "Authorization")

    def test_revoked_token_is_401(self, app: Any, client: Any, token: str) -> None:
        assert client.get("/api/v1/batches", headers=bearer(token)).status_code == 200
        with app.app_context():
            record = db.session.scalar(
                select(ApiToken).where(ApiToken.token_hash == token_hash(token))
            )
            record.revoked_at = utcnow()
            db.session.commit()
        response = client.get("/api/v1/batches", headers=bearer(token))
        assert_error(response, 401, "Authorization")

    def test_write_without_token_changes_nothing(self, app: Any, client: Any) -> None:
        before = ledger_size(app)
        response = client.post("/api/v1/batches", json=BATCH)
        assert response.status_code == 401
        assert ledger_size(app) == before

    def test_admin_token_is_forbidden(self, app: Any, client: Any) -> None:
        admin = token_for(app, ADMIN_PHONE)
        response = client.get("/api/v1/batches", headers=bearer(admin))
        assert response.status_code == 403
        assert response.get_json()["status"] == "forbidden"

    def test_api_is_exempt_from_csrf(self, app: Any, client: Any, token: str) -> None:
        app.config["WTF_CSRF_ENABLED"] = True
        assert client.post("/auth/login", data={"phone": "x", "password": "y"}).status_code == 400
        response = client.post("/api/v1/batches", json=BATCH, headers=bearer(token))
        assert response.status_code == 201


class TestBatches:
    def test_create_then_list_and_read(self, app: Any, client: Any, token: str) -> None:
        assert client.get("/api/v1/batches", headers=bearer(token)).get_json() == []
        before = ledger_size(app)
        response = client.post(
            "/api/v1/batches",
            json=BATCH | {"expected_quantity": "1500", "lot": "PT-2024.1", "gtin": "8938505974194"},
            headers=bearer(token),
        )
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        assert ledger_size(app) == before + 1
        assert created["product"] == BATCH["product"]
        assert created["variety"] == "Phúc Trạch"
        assert created["plot"] == ""
        assert created["unit"] == "quả"
        assert created["start_date"] == START
        assert created["lot"] == "PT-2024.1"
        assert created["gtin"] == "08938505974194"
        assert float(created["expected_quantity"]) == 1500
        assert re.fullmatch(r"[A-Z0-9]+", created["code"])
        with app.app_context():
            entry = goc().ledger.entry(created["seq"])
        assert entry is not None and entry.statement.parse().kind == "batch.create"
        urls = created["urls"]
        assert urls["public"] == f"{BASE}/b/{created['code']}"
        listed = client.get("/api/v1/batches", headers=bearer(token)).get_json()
        assert [b["code"] for b in listed] == [created["code"]]
        assert client.get(path_of(urls["self"]), headers=bearer(token)).get_json() == created
        assert client.get(path_of(urls["steps"]), headers=bearer(token)).get_json() == []

    def test_lot_is_generated_when_not_given(self, batch: dict[str, Any]) -> None:
        assert batch["lot"].startswith("L")
        assert batch["gtin"] is None
        assert batch["expected_quantity"] is None

    def test_other_households_batches_are_not_found(
        self, app: Any, client: Any, batch: dict[str, Any], other_token: str
    ) -> None:
        assert client.get("/api/v1/batches", headers=bearer(other_token)).get_json() == []
        response = client.get(f"/api/v1/batches/{batch['code']}", headers=bearer(other_token))
        assert response.status_code == 404
        assert response.get_json()["status"] == "not_found"
        before = ledger_size(app)
        response = client.post(steps_url(batch), json=HARVEST, headers=bearer(other_token))
        assert response.status_code == 404
        assert client.get(steps_url(batch), headers=bearer(other_token)).status_code == 404
        assert ledger_size(app) == before

    def test_unknown_batch_is_404(self, client: Any, token: str) -> None:
        response = client.get("/api/v1/batches/BNOSUCH", headers=bearer(token))
        assert response.status_code == 404
        assert response.mimetype == "application/json"

    def test_longest_texts_fit(self, client: Any, token: str) -> None:
        longest = {"product": "P" * 120, "variety": "V" * 120, "plot": "L" * 120}
        response = client.post(
            "/api/v1/batches",
            json=BATCH | longest | {"expected_quantity": "99999999999.999"},
            headers=bearer(token),
        )
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        assert {k: created[k] for k in longest} == longest
        assert created["expected_quantity"] == "99999999999.999"

    def test_create_is_idempotent(self, app: Any, client: Any, token: str) -> None:
        headers = bearer(token, **{"Idempotency-Key": "batch-1"})
        before = ledger_size(app)
        first = client.post("/api/v1/batches", json=BATCH, headers=headers)
        again = client.post("/api/v1/batches", json=BATCH, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.get_json() == again.get_json()
        assert ledger_size(app) == before + 1
        other = client.post("/api/v1/batches", json={**BATCH, "plot": "B"}, headers=headers)
        assert other.status_code == 409
        assert other.get_json()["status"] == "conflict"
        assert ledger_size(app) == before + 1

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"product": None}, "product"),
            ({"unit": "barrels"}, "unit"),
            ({"start_date": "yesterday"}, "start_date"),
            ({"start_date": "1999-01-01"}, "start_date"),
            ({"expected_quantity": "-3"}, "expected_quantity"),
            ({"gtin": "8938505974195"}, "gtin"),
            ({"lot": "no spaces allowed"}, "lot"),
            ({"product": "x" * 121}, "product"),
            ({"variety": "x" * 121}, "variety"),
            ({"plot": "x" * 121}, "plot"),
            ({"expected_quantity": "1e12"}, "expected_quantity"),
            ({"product": 12}, "product"),
            ({"colour": "green"}, "colour"),
        ],
    )
    def test_bad_input_names_the_field(
        self, app: Any, client: Any, token: str, change: dict[str, Any], field: str
    ) -> None:
        body = {k: v for k, v in {**BATCH, **change}.items() if v is not None}
        before = ledger_size(app)
        response = client.post("/api/v1/batches", json=body, headers=bearer(token))
        assert assert_error(response, 422, field)["status"] == "validation_failed"
        assert ledger_size(app) == before
        assert client.get("/api/v1/batches", headers=bearer(token)).get_json() == []


class TestRecordSteps:
    def test_json_step(self, app: Any, client: Any, token: str, batch: dict[str, Any]) -> None:
        before = ledger_size(app)
        when = hours_ago(2)
        response = client.post(
            steps_url(batch), json={**HARVEST, "occurred_at": when}, headers=bearer(token)
        )
        assert response.status_code == 201, response.get_json()
        step = response.get_json()
        assert ledger_size(app) == before + 1
        assert step["kind"] == "harvest"
        assert step["batch"] == batch["code"]
        assert datetime.fromisoformat(step["occurred_at"]) == datetime.fromisoformat(when)
        assert step["data"]["quantity"] == "120.5"
        assert step["data"]["note"] == "Hái sáng sớm"
        assert step["photos"] == []
        assert step["corrects"] is None
        with app.app_context():
            entry = goc().ledger.entry(step["seq"])
        assert entry is not None
        assert step["entry_hash"] == entry.hash.hex()
        assert entry.statement.parse().kind == "step.harvest"
        assert entry.statement.parse().subject == f"batch:{batch['code']}"

    def test_multipart_step_with_photos(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        photos = [jpeg_bytes((200, 30, 30)), jpeg_bytes((30, 30, 200), size=(80, 60))]
        before = ledger_size(app)
        response = post_multipart(
            client,
            steps_url(batch),
            token,
            {"kind": "spraying", "product": "Vertimec", "active_ingredient": "Abamectin"}
            | {"dose": "10 ml / bình 16 l", "phi_days": "7"},
            photos,
        )
        assert response.status_code == 201, response.get_json()
        step = response.get_json()
        assert ledger_size(app) == before + 1
        assert step["kind"] == "spraying"
        assert step["data"]["phi_days"] == 7
        assert len(step["photos"]) == 2
        digests = [p["sha256"] for p in step["photos"]]
        assert [p["sha256"] for p in step["data"]["photos"]] == digests
        with app.app_context():
            entry = goc().ledger.entry(step["seq"])
        assert entry is not None
        assert list(entry.statement.parse().attachments) == digests
        for photo in step["photos"]:
            full = client.get(path_of(photo["url"]), headers=bearer(token))
            assert full.status_code == 200
            assert full.mimetype == "image/jpeg"
            assert full.data[:3] == b"\xff\xd8\xff"
            assert hashlib.sha256(full.data).hexdigest() == photo["sha256"]
            thumb = client.get(path_of(photo["thumbnail_url"]), headers=bearer(token))
            assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
        assert photo["width"] == 80 and photo["height"] == 60

    def test_photos_of_other_households_are_not_found(
        self, client: Any, token: str, other_token: str, batch: dict[str, Any]
    ) -> None:
        response = post_multipart(client, steps_url(batch), token, HARVEST, [jpeg_bytes()])
        url = path_of(response.get_json()["photos"][0]["url"])
        assert client.get(url, headers=bearer(token)).status_code == 200
        assert client.get(url, headers=bearer(other_token)).status_code == 404
        assert client.get(url).status_code == 401
        bad_query = client.get(url + "?thumbnail=perhaps", headers=bearer(token))
        assert assert_error(bad_query, 422, "thumbnail")["status"] == "validation_failed"

    def test_list_steps_with_ledger_entries(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        client.post(
            steps_url(batch),
            json={"kind": "planting", "seed_source": "Vườn ươm Hương Khê"},
            headers=bearer(token),
        )
        post_multipart(client, steps_url(batch), token, HARVEST, [jpeg_bytes()])
        listed = client.get(steps_url(batch), headers=bearer(token)).get_json()
        assert [s["kind"] for s in listed] == ["planting", "harvest"]
        assert listed[0]["seq"] < listed[1]["seq"]
        assert len(listed[1]["photos"]) == 1
        with app.app_context():
            for step in listed:
                entry = goc().ledger.entry(step["seq"])
                assert entry is not None
                assert step["entry_hash"] == entry.hash.hex()

    def test_json_retry_is_idempotent(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        headers = bearer(token, **{"Idempotency-Key": "step-1"})
        before = ledger_size(app)
        first = client.post(steps_url(batch), json=HARVEST, headers=headers)
        again = client.post(steps_url(batch), json=HARVEST, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.get_json() == first.get_json()
        assert ledger_size(app) == before + 1
        assert len(client.get(steps_url(batch), headers=bearer(token)).get_json()) == 1

    def test_multipart_retry_is_idempotent(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        responses = [
            post_multipart(
                client, steps_url(batch), token, HARVEST, [jpeg_bytes()], **{"Idempotency-Key": "k"}
            )
            for _ in range(2)
        ]
        assert [r.status_code for r in responses] == [201, 201]
        assert responses[0].get_json() == responses[1].get_json()
        assert ledger_size(app) == before + 1

    def test_same_key_other_body_conflicts(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        headers = bearer(token, **{"Idempotency-Key": "step-2"})
        assert client.post(steps_url(batch), json=HARVEST, headers=headers).status_code == 201
        before = ledger_size(app)
        response = client.post(
            steps_url(batch), json={**HARVEST, "quantity": "99"}, headers=headers
        )
        assert response.status_code == 409
        assert response.get_json()["status"] == "conflict"
        assert ledger_size(app) == before

    def test_overlong_idempotency_key_is_refused(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        response = client.post(
            steps_url(batch), json=HARVEST, headers=bearer(token, **{"Idempotency-Key": "k" * 129})
        )
        assert_error(response, 422, "Idempotency-Key")
        assert ledger_size(app) == before


def _step(**fields: Any) -> dict[str, Any]:
    return {"kind": "fertilising", "product": "NPK 16-16-8", "amount": "25", **fields}


class TestBadInput:
    """Every kind of bad input: a 4xx JSON error naming the field, and nothing recorded."""

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            pytest.param(_step(product=None), 422, "product", id="missing-required"),
            pytest.param(_step(amount_unit="gallon"), 422, "amount_unit", id="invalid-choice"),
            pytest.param(_step(amount="a lot"), 422, "amount", id="invalid-number"),
            pytest.param(_step(product=["NPK"]), 422, "product", id="wrong-type"),
            pytest.param(_step(note="x" * 1001), 422, "note", id="overlong-note"),
            pytest.param(_step(product="x" * 201), 422, "product", id="overlong-text"),
            pytest.param(
                _step(occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
                422,
                "occurred_at",
                id="future",
            ),
            pytest.param(
                _step(occurred_at=(datetime.now(UTC) - timedelta(days=400)).isoformat()),
                422,
                "occurred_at",
                id="too-far-back",
            ),
            pytest.param(_step(occurred_at="2024-05-01T08:00"), 422, "occurred_at", id="naive"),
            pytest.param({**HARVEST, "quantity": "-5"}, 422, "quantity", id="negative"),
            pytest.param({**HARVEST, "quantity": "0"}, 422, "quantity", id="zero"),
            pytest.param({**HARVEST, "quantity": "NaN"}, 422, "quantity", id="nan"),
            pytest.param(
                {"kind": "spraying", "product": "p", "active_ingredient": "a", "dose": "d"}
                | {"phi_days": 400},
                422,
                "phi_days",
                id="out-of-range",
            ),
            pytest.param({**HARVEST, "kind": "dancing"}, 422, "kind", id="unknown-kind"),
            pytest.param({"quantity": "5"}, 422, "kind", id="missing-kind"),
            pytest.param({**HARVEST, "kind": ["harvest"]}, 422, "kind", id="kind-not-text"),
            pytest.param({**HARVEST, "colour": "green"}, 422, "colour", id="unknown-field"),
            pytest.param({**HARVEST, "photos": ["abc"]}, 422, "photos", id="photos-in-json"),
            pytest.param(["harvest"], 400, "body", id="not-an-object"),
        ],
    )
    def test_json(
        self,
        app: Any,
        client: Any,
        token: str,
        batch: dict[str, Any],
        body: Any,
        status: int,
        field: str,
    ) -> None:
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if v is not None}
        before = ledger_size(app)
        response = client.post(steps_url(batch), json=body, headers=bearer(token))
        assert_error(response, status, field)
        assert ledger_size(app) == before
        assert client.get(steps_url(batch), headers=bearer(token)).get_json() == []

    @pytest.mark.parametrize(
        ("photos", "field"),
        [
            pytest.param([jpeg_bytes() + b"\0" * MAX_PHOTO_BYTES], "photos", id="oversized"),
            pytest.param([b"GIF89a not really a picture"], "photos", id="fake-image"),
            pytest.param([b"%PDF-1.4\n" + b"x" * 2000], "photos", id="pdf"),
            pytest.param([jpeg_bytes()[:200]], "photos", id="truncated-jpeg"),
            pytest.param([jpeg_bytes(size=(8, 8))] * 6, "photos", id="too-many"),
        ],
    )
    def test_photos(
        self,
        app: Any,
        client: Any,
        token: str,
        batch: dict[str, Any],
        photos: list[bytes],
        field: str,
    ) -> None:
        before = ledger_size(app)
        response = post_multipart(client, steps_url(batch), token, HARVEST, photos)
        assert_error(response, 422, field)
        assert ledger_size(app) == before
        assert client.get(steps_url(batch), headers=bearer(token)).get_json() == []

    def test_multipart_fields_are_validated(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        response = post_multipart(
            client, steps_url(batch), token, {**HARVEST, "quantity": "-1"}, [jpeg_bytes()]
        )
        assert_error(response, 422, "quantity")
        assert ledger_size(app) == before

    def test_files_under_another_name(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        response = post_multipart(
            client, steps_url(batch), token, HARVEST, [jpeg_bytes()], photo_field="picture"
        )
        assert_error(response, 422, "picture")
        assert ledger_size(app) == before

    def test_malformed_json(self, app: Any, client: Any, token: str, batch: dict[str, Any]) -> None:
        before = ledger_size(app)
        response = client.post(
            steps_url(batch),
            data='{"kind": "harvest", "quantity": ',
            content_type="application/json",
            headers=bearer(token),
        )
        assert assert_error(response, 400, "body")["status"] == "bad_request"
        assert ledger_size(app) == before

    def test_unsupported_content_type(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        response = client.post(
            steps_url(batch), data="kind=harvest", content_type="text/plain", headers=bearer(token)
        )
        assert_error(response, 415, "Content-Type")
        response = client.post("/api/v1/batches", data=BATCH, headers=bearer(token))
        assert_error(response, 415, "Content-Type")
        assert ledger_size(app) == before

    def test_request_over_the_size_limit(
        self, app: Any, client: Any, token: str, batch: dict[str, Any]
    ) -> None:
        app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
        before = ledger_size(app)
        response = post_multipart(
            client, steps_url(batch), token, HARVEST, [b"\0" * (2 * 1024 * 1024)]
        )
        assert response.status_code == 413
        assert response.get_json()["code"] == 413
        assert ledger_size(app) == before


class TestCorrections:
    @pytest.fixture
    def step(self, client: Any, token: str, batch: dict[str, Any]) -> dict[str, Any]:
        response = client.post(steps_url(batch), json=HARVEST, headers=bearer(token))
        assert response.status_code == 201
        body: dict[str, Any] = response.get_json()
        return body

    def test_correct_a_step(
        self, app: Any, client: Any, token: str, batch: dict[str, Any], step: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        response = client.post(
            f"/api/v1/steps/{step['seq']}/corrections",
            json={"reason": "Cân sai", "quantity": "112"},
            headers=bearer(token),
        )
        assert response.status_code == 201, response.get_json()
        correction = response.get_json()
        assert ledger_size(app) == before + 1
        assert correction["kind"] == "correct"
        assert correction["corrects"] == step["seq"]
        assert correction["data"]["reason"] == "Cân sai"
        assert correction["data"]["replacement"]["quantity"] == "112"
        assert correction["data"]["corrects"]["entry_hash"] == step["entry_hash"]
        with app.app_context():
            entry = goc().ledger.entry(correction["seq"])
        assert entry is not None and correction["entry_hash"] == entry.hash.hex()
        listed = client.get(steps_url(batch), headers=bearer(token)).get_json()
        assert [(s["kind"], s["corrects"]) for s in listed] == [
            ("harvest", None),
            ("correct", step["seq"]),
        ]

    def test_correction_is_idempotent(
        self, app: Any, client: Any, token: str, step: dict[str, Any]
    ) -> None:
        url = f"/api/v1/steps/{step['seq']}/corrections"
        headers = bearer(token, **{"Idempotency-Key": "fix-1"})
        before = ledger_size(app)
        first = client.post(url, json={"reason": "Cân sai"}, headers=headers)
        again = client.post(url, json={"reason": "Cân sai"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.get_json() == again.get_json()
        assert ledger_size(app) == before + 1
        assert client.post(url, json={"reason": "Khác"}, headers=headers).status_code == 409

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "reason"),
            ({"reason": ""}, "reason"),
            ({"reason": "x" * 501}, "reason"),
            ({"reason": "Cân sai", "quantity": "-1"}, "quantity"),
            ({"reason": "Cân sai", "colour": "green"}, "colour"),
        ],
    )
    def test_bad_correction_names_the_field(
        self,
        app: Any,
        client: Any,
        token: str,
        step: dict[str, Any],
        body: dict[str, Any],
        field: str,
    ) -> None:
        before = ledger_size(app)
        response = client.post(
            f"/api/v1/steps/{step['seq']}/corrections", json=body, headers=bearer(token)
        )
        assert_error(response, 422, field)
        assert ledger_size(app) == before

    def test_a_correction_cannot_be_corrected(
        self, client: Any, token: str, step: dict[str, Any]
    ) -> None:
        correction = client.post(
            f"/api/v1/steps/{step['seq']}/corrections",
            json={"reason": "Cân sai"},
            headers=bearer(token),
        ).get_json()
        response = client.post(
            f"/api/v1/steps/{correction['seq']}/corrections",
            json={"reason": "Again"},
            headers=bearer(token),
        )
        assert_error(response, 422, "step")

    def test_other_households_steps_are_not_found(
        self, app: Any, client: Any, other_token: str, batch: dict[str, Any], step: dict[str, Any]
    ) -> None:
        before = ledger_size(app)
        for seq in (step["seq"], batch["seq"], 10_000):
            response = client.post(
                f"/api/v1/steps/{seq}/corrections",
                json={"reason": "Not mine"},
                headers=bearer(other_token),
            )
            assert response.status_code == 404
        assert ledger_size(app) == before


class TestOpenApi:
    @pytest.fixture
    def spec(self, client: Any) -> dict[str, Any]:
        response = client.get("/api/openapi.json")
        assert response.status_code == 200
        body: dict[str, Any] = response.get_json()
        return body

    def test_is_a_valid_openapi_3_document(self, spec: dict[str, Any]) -> None:
        from openapi_spec_validator import validate

        assert spec["openapi"].startswith("3.")
        validate(spec)

    def test_documents_every_api_route_with_bearer_auth(
        self, app: Any, spec: dict[str, Any]
    ) -> None:
        assert spec["components"]["securitySchemes"]["bearerAuth"] == {
            "type": "http",
            "scheme": "bearer",
            "description": "A household's API token, sent as `Authorization: Bearer <token>`.",
        }
        routes = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")]
        assert len(routes) >= 6
        for rule in routes:
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            assert path in spec["paths"], path
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                operation = spec["paths"][path][method.lower()]
                assert operation["summary"], (path, method)
                assert any(code.startswith("2") for code in operation["responses"])
                if (path, method) in ANONYMOUS:  # buyers: no account, no token
                    assert operation["security"] == [], (path, method)
                    continue
                assert operation["security"] == [{"bearerAuth": []}], (path, method)
                assert "401" in operation["responses"], (path, method)

    def test_documents_request_bodies(self, spec: dict[str, Any]) -> None:
        paths = spec["paths"]
        record = paths["/api/v1/batches/{code}/steps"]["post"]
        content = record["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}
        kinds = content["application/json"]["schema"]["discriminator"]["mapping"]
        assert set(kinds) == {
            "planting",
            "fertilising",
            "spraying",
            "irrigation",
            "care",
            "harvest",
            "packing",
            "inspection",
            "transport",
            "note",
        }
        schemas = spec["components"]["schemas"]
        upload = schemas["HarvestStepUpload"]["properties"]["photos"]
        assert upload["items"] == {"type": "string", "format": "binary"}
        assert set(schemas["HarvestStepInput"]["required"]) == {"kind", "quantity"}
        assert [p["name"] for p in record["parameters"]] == ["Idempotency-Key"]
        assert record["responses"]["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/StepOut"
        }
        create = paths["/api/v1/batches"]["post"]
        assert create["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/BatchInput"
        }
        assert set(schemas["BatchInput"]["required"]) == {"product", "unit", "start_date"}
        correct = paths["/api/v1/steps/{seq}/corrections"]["post"]
        assert "requestBody" in correct
        assert set(schemas["StepOut"]["properties"]) >= {
            "id",
            "kind",
            "occurred_at",
            "data",
            "seq",
            "entry_hash",
            "photos",
            "corrects",
        }

    def test_spec_is_public(self, client: Any) -> None:
        assert client.get("/api/openapi.json").status_code == 200

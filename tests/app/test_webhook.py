"""The SePay webhook: authenticated, stored raw first, idempotent, matching however mangled."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OrderStatus, Payment, PaymentFlag, WebhookDelivery
from app.services.payments import inbox
from tests.orders_support import (
    ACCOUNT,
    PRICE,
    batch_on_sale,
    deliver,
    member,
    order,
    reload,
    sepay_body,
)


def deliveries(app: Any) -> list[WebhookDelivery]:
    with app.app_context():
        found = list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return found


def payment_count(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Payment)) or 0


@pytest.fixture
def placed(app: Any) -> Any:
    return order(app, batch_on_sale(app), quantity=2)


class TestAuthentication:
    def test_no_key_is_refused_but_stored(self, app: Any, client: Any, placed: Any) -> None:
        body = sepay_body(1, placed.order.code, 2 * PRICE)
        response = deliver(client, body, key=None)
        assert response.status_code == 401
        assert response.get_json()["errors"]["Authorization"]
        assert response.headers["WWW-Authenticate"].startswith("Apikey")
        [stored] = deliveries(app)
        assert json.loads(stored.body) == body and stored.outcome == "unauthorized"
        assert stored.headers["Authorization"] == "absent"
        assert reload(app, placed.order.code).status is OrderStatus.PENDING

    def test_a_wrong_key_is_refused(self, app: Any, client: Any, placed: Any) -> None:
        response = deliver(client, sepay_body(1, placed.order.code, 2 * PRICE), key="guess")
        assert response.status_code == 401
        assert response.get_json()["message"] == "The webhook API key is wrong."
        assert payment_count(app) == 0
        assert "guess" not in json.dumps(deliveries(app)[0].headers)  # the key is never kept

    def test_a_bearer_scheme_is_refused(self, client: Any, placed: Any) -> None:
        response = client.post(
            "/payments/webhook/sepay",
            json=sepay_body(1, placed.order.code, 2 * PRICE),
            headers={"Authorization": "Bearer whatever"},
        )
        assert response.status_code == 401

    def test_hmac_signature_when_configured(
        self, database_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.services.payments import Unauthenticated, authenticate

        body = b'{"id": 1}'
        stamp = str(int(time.time()))
        signature = hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Authorization": "Apikey k",
            "X-SePay-Timestamp": stamp,
            "X-SePay-Signature": f"sha256={signature}",
        }
        authenticate(key="k", hmac_secret="s3cret", headers=headers, body=body)
        with pytest.raises(Unauthenticated, match="signature"):
            authenticate(key="k", hmac_secret="s3cret", headers=headers, body=body + b" ")
        old = {**headers, "X-SePay-Timestamp": str(int(stamp) - 600)}
        with pytest.raises(Unauthenticated, match="timestamp"):
            authenticate(key="k", hmac_secret="s3cret", headers=old, body=body)


class TestPayloads:
    def test_malformed_json_is_refused_naming_the_field(self, app: Any, client: Any) -> None:
        response = deliver(client, b'{"id": 1, "transferAmount": ')
        assert response.status_code == 400 and "body" in response.get_json()["errors"]
        wrong_type = deliver(client, sepay_body(2, "x", 1000) | {"transferAmount": "1000"})
        assert wrong_type.status_code == 400
        assert wrong_type.get_json()["errors"] == {"transferAmount": ["Expected a whole number."]}
        missing = deliver(client, {"id": 3, "transferAmount": 1})
        assert missing.get_json()["errors"] == {"transferType": ["Expected text."]}
        stored = deliveries(app)
        assert [d.outcome for d in stored] == ["bad_request"] * 3
        assert stored[0].body == b'{"id": 1, "transferAmount": '

    def test_money_going_out_is_ignored(self, app: Any, client: Any, placed: Any) -> None:
        body = sepay_body(9, placed.order.code, 2 * PRICE, transferType="out")
        assert deliver(client, body).get_json()["result"] == "ignored"
        assert deliver(client, sepay_body(10, placed.order.code, 0)).get_json()["result"] == (
            "ignored"
        )
        assert payment_count(app) == 0
        assert reload(app, placed.order.code).status is OrderStatus.PENDING


class TestMatching:
    def test_exact_amount_pays_and_a_replay_changes_nothing(
        self, app: Any, client: Any, placed: Any
    ) -> None:
        body = sepay_body(92704, f"MBVCB.3278907687.{placed.order.code}.CT tu", 2 * PRICE)
        first = deliver(client, body)
        assert first.status_code == 200
        assert first.get_json() == {"success": True, "result": "paid", "order": placed.order.code}
        paid = reload(app, placed.order.code)
        assert paid.status is OrderStatus.PAID and paid.flag is PaymentFlag.NONE
        replay = deliver(client, body)
        assert replay.status_code == 200 and replay.get_json()["result"] == "duplicate"
        again = reload(app, placed.order.code)
        assert again.paid_vnd == 2 * PRICE and again.sale_seq == paid.sale_seq
        assert payment_count(app) == 1
        assert [d.outcome for d in deliveries(app)] == ["paid", "duplicate"]

    @pytest.mark.parametrize(
        "mangle",
        [
            str.lower,
            lambda code: f"Nguyễn Thị Ngọc chuyển tiền {code[:3]} {code[3:6]} {code[6:]}",
            lambda code: f"{code[:3].replace('O', 'Ó')}-{code[3:]} mua buoi",
        ],
    )
    def test_the_code_is_found_however_mangled(
        self, app: Any, client: Any, placed: Any, mangle: Any
    ) -> None:
        response = deliver(client, sepay_body(5, mangle(placed.order.code), 2 * PRICE))
        assert response.get_json()["result"] == "paid"

    def test_short_payment_is_partial_and_flagged(self, app: Any, client: Any, placed: Any) -> None:
        deliver(client, sepay_body(11, placed.order.code, PRICE))
        short = reload(app, placed.order.code)
        assert short.status is OrderStatus.PARTIALLY_PAID and short.flag is PaymentFlag.SHORT
        assert short.sale_seq is None
        deliver(client, sepay_body(12, placed.order.code, PRICE))  # the rest arrives
        settled = reload(app, placed.order.code)
        assert settled.status is OrderStatus.PAID and settled.flag is PaymentFlag.NONE

    def test_over_payment_is_paid_and_flagged(self, app: Any, client: Any, placed: Any) -> None:
        response = deliver(client, sepay_body(21, placed.order.code, 2 * PRICE + 5000))
        assert response.get_json()["result"] == "paid"
        over = reload(app, placed.order.code)
        assert over.status is OrderStatus.PAID and over.flag is PaymentFlag.OVER
        assert over.paid_vnd == 2 * PRICE + 5000

    def test_an_unknown_code_lands_in_the_household_inbox(
        self, app: Any, client: Any, placed: Any
    ) -> None:
        response = deliver(client, sepay_body(31, "GOCZZZZZZ tien buoi", 90_000))
        assert response.status_code == 200 and response.get_json()["result"] == "unmatched"
        with app.app_context():
            [waiting] = inbox(db.session, member())
            assert waiting.amount_vnd == 90_000 and waiting.account_number == ACCOUNT
        assert reload(app, placed.order.code).status is OrderStatus.PENDING

    def test_a_transfer_to_an_unknown_account_goes_to_the_admins(
        self, app: Any, client: Any, placed: Any
    ) -> None:
        from app.models import Role, User

        deliver(client, sepay_body(41, placed.order.code, 2 * PRICE, account="999"))
        assert reload(app, placed.order.code).status is OrderStatus.PENDING
        with app.app_context():
            admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
            assert admin is not None
            assert [p.provider_txn_id for p in inbox(db.session, admin)] == ["41"]
            assert inbox(db.session, member()) == []


class TestConfiguration:
    def test_the_key_is_required_outside_development(self, tmp_path: Any) -> None:
        from app import create_app
        from app.config import ConfigError
        from tests.support import app_config

        config = app_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, PAYMENT_WEBHOOK_KEY="")
        with pytest.raises(ConfigError, match="PAYMENT_WEBHOOK_KEY"):
            create_app(config)
        with pytest.raises(ConfigError, match="PAYMENT_WEBHOOK_KEY"):
            create_app({**config, "GOC_ENV": "production", "PAYMENT_WEBHOOK_KEY": "short"})
        with pytest.raises(ConfigError, match="ORDER_TTL_MINUTES"):
            create_app({**config, "PAYMENT_WEBHOOK_KEY": "k", "ORDER_TTL_MINUTES": "soon"})

    def test_without_a_key_development_refuses_every_webhook(
        self, database_url: str, tmp_path: Any
    ) -> None:
        from app import create_app
        from tests.support import app_config

        config = app_config(database_url, tmp_path, GOC_ENV="development", PAYMENT_WEBHOOK_KEY="")
        development = create_app(config)
        try:
            response = deliver(development.test_client(), sepay_body(1, "x", 1), key="")
            assert response.status_code == 401
            assert "PAYMENT_WEBHOOK_KEY" in response.get_json()["message"]
        finally:
            with development.app_context():
                db.engine.dispose()

"""Hostile input: CSRF on every state-changing form, session fixation, files disguised as photos,
script injection in every free-text field, SQL injection in query parameters, login throttling
and payment webhooks without (or with a wrong) key."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import func, select

from app import create_app
from app.context import goc
from app.extensions import db
from app.household.forms import PRIVATE_FIELDS
from app.models import Batch, Household, Order, Payment, Step, User
from app.models.households import PUBLIC_FIELDS
from app.steps import STEP_TYPES
from tests.app.test_api import bearer, post_multipart
from tests.orders_support import ACCOUNT, BANK_BIN
from tests.security.conftest import ROLES, World
from tests.security.test_authorization import ACCESS, methods, rules, url_for_rule
from tests.support import ADMIN_PHONE, HOUSEHOLD_PHONES, PASSWORD, app_config

# Payment webhooks and the header carrying their key (test_every_webhook_is_listed fails until a
# new webhook is added here).
WEBHOOKS: list[tuple[str, str, dict[str, Any]]] = [
    ("/payments/webhook/sepay", "Authorization", {"id": 1, "transferAmount": 45000}),
]

# Query parameters that reach the database or a computation: (path, parameter). The
# marketplace search adds one line here, e.g. ("/", "q").
QUERY_PARAMETERS = [
    ("/household/", "page"),
    ("/b/{batch}", "page"),
    ("/b/{batch}/qr.png", "size"),
    ("/api/v1/photos/{photo}", "thumbnail"),
    ("/auth/login", "next"),
    ("/h/{household}", "lang"),
    ("/", "q"),
    ("/", "product"),
    ("/", "commune"),
    ("/b/{batch}/labels", "per_page"),
    ("/ledger/entries", "start"),
    ("/ledger/proof/inclusion", "index"),
]
SQL_INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE users; --",
    "1 UNION SELECT password_hash FROM users --",
    "%' OR 1=1 --",
    "\\'; SELECT pg_sleep(5); --",
    "1)) OR ((1=1",
]


def ledger_size(app: Any) -> int:
    with app.app_context():
        return goc().ledger.size()


def counts(app: Any) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (User, Household, Batch, Step, Order, Payment)
        } | {"ledger": goc().ledger.size()}


# CSRF ---------------------------------------------------------------------------------------


def csrf_app(world: World, tmp_path: Path) -> Any:
    """The same database and keys, with CSRF protection on (as in production)."""
    url = world.app.config["SQLALCHEMY_DATABASE_URI"]
    return create_app(app_config(url, tmp_path / "csrf", STORAGE_URL=str(tmp_path / "s")))


# POST routes without a CSRF token, on purpose; any other one fails the CSRF test.
CSRF_EXEMPT = {
    "payments.sepay": "a bank's webhook, authenticated by the provider's key",
    "storefront.orders.order_batch": "the anonymous order form of a public, cached page: a forged "
    "post can only do what anyone can do directly, and orders are throttled per address",
}

EXPIRED = "Biểu mẫu đã hết hạn"  # "The form has expired" (pages are in Vietnamese)


def csrf_token(client: Any, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found, f"{path} has no CSRF token"
    return found.group(1)


def csrf_login(client: Any, phone: str) -> None:
    token = csrf_token(client, "/auth/login")
    response = client.post("/auth/login", data={"phone": phone, "password": PASSWORD,
                                                "csrf_token": token})  # fmt: skip
    assert response.status_code == 302


def test_every_state_changing_form_needs_the_csrf_token(world: World, tmp_path: Path) -> None:
    app = csrf_app(world, tmp_path)
    phones = {"household_a": HOUSEHOLD_PHONES[0], "admin": ADMIN_PHONE}
    try:
        posts = [
            rule
            for rule in rules(app)
            if "POST" in methods(rule)
            and not rule.rule.startswith("/api/")
            and rule.endpoint not in CSRF_EXEMPT
        ]
        exempt = {r.endpoint for r in rules(app) if r.endpoint in CSRF_EXEMPT}
        assert exempt == CSRF_EXEMPT.keys(), "CSRF_EXEMPT names routes that are gone"
        assert len(posts) >= 9
        anonymous = app.test_client()
        login = {"phone": HOUSEHOLD_PHONES[0], "password": PASSWORD}
        assert anonymous.post("/auth/login", data=login).status_code == 400
        before = counts(app)
        for rule in posts:
            if rule.endpoint in ("auth.login",):
                continue
            # Post as the role the route is for (the first one the matrix lets past its checks;
            # "missing": allowed, but the world's item is not that role's).
            role = next(r for r, o in zip(ROLES, ACCESS[rule.endpoint]["POST"], strict=True)
                        if r != "anonymous" and o in ("ok", "login", "missing"))  # fmt: skip
            client = app.test_client()
            csrf_login(client, phones.get(role, HOUSEHOLD_PHONES[1]))
            url = url_for_rule(world, rule)
            response = client.post(url, data={"reason": "x", "product": "x", "unit": "kg"})
            assert response.status_code == 400, f"{url}: {response.status_code}"
            assert EXPIRED in response.get_data(as_text=True), url
            forged = client.post(url, data={"csrf_token": "forged", "reason": "x"})
            assert forged.status_code == 400, url
        assert counts(app) == before
    finally:
        with app.app_context():
            db.engine.dispose()


# Session fixation ---------------------------------------------------------------------------


def session_cookie(client: Any) -> str | None:
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


def test_login_replaces_the_session(world: World) -> None:
    client = world.app.test_client()
    client.get("/auth/login?lang=en")  # a pre-login session, as an attacker could plant
    planted = session_cookie(client)
    assert planted
    client.post("/auth/login", data={"phone": HOUSEHOLD_PHONES[0], "password": PASSWORD})
    assert session_cookie(client) not in (None, planted)
    assert client.get("/household/").status_code == 200
    assert client.get("/household/?lang=en").status_code == 200  # the language choice survived
    attacker = world.app.test_client()
    attacker.set_cookie("session", planted)
    response = attacker.get("/household/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


# Files disguised as photos -----------------------------------------------------------------

DISGUISES = {
    "html": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(1)</script></svg>",
}


def test_html_and_svg_named_jpg_are_refused(world: World) -> None:
    before = counts(world.app)
    steps = f"/api/v1/batches/{world.batch}/steps"
    web = world.clients["household_a"]
    for name, data in DISGUISES.items():
        response = post_multipart(web, steps, world.tokens["household_a"],
                                  {"kind": "harvest", "quantity": "1"}, [data])  # fmt: skip
        assert response.status_code == 422, name
        assert "photos" in response.get_json()["errors"], name
        form = {"quantity": "1", "form_token": f"disguised-photo-{name}",
                "photos": (io.BytesIO(data), "photo.jpg", "image/jpeg")}  # fmt: skip
        page = web.post(f"/household/batches/{world.batch}/steps/harvest/new", data=form,
                        content_type="multipart/form-data")  # fmt: skip
        assert page.status_code == 422, name
    assert counts(world.app) == before


# Script injection --------------------------------------------------------------------------


def payload(field: str) -> str:
    return f'<script>alert("{field}")</script>"><img src=x onerror=alert(1)>'


ESCAPED = "&lt;script&gt;alert("


def free_text(schema: Any) -> list[str]:
    """A schema's free-text fields: strings with no fixed set of values."""
    return [
        name
        for name, field in schema().fields.items()
        if type(field) is fields.String
        and not any(isinstance(v, validate.OneOf) for v in field.validators)
        and name not in ("lot", "gtin")  # checked against a pattern
    ]


def all_pages(world: World) -> dict[str, str]:
    """Every HTML page of every role, with household A's things in the URLs. (The API's JSON
    carries the texts as they were typed: served as application/json with nosniff, never run.)"""
    pages = {}
    for rule in rules(world.app):
        if "GET" not in methods(rule) or rule.endpoint == "static":
            continue
        url = url_for_rule(world, rule)
        for role in ROLES:
            headers = world.api_headers(role) if url.startswith("/api/") else {}
            with world.clients[role].get(url, headers=headers) as response:
                if url.startswith("/api/"):
                    assert response.mimetype in ("application/json", "image/jpeg"), url
                    assert response.headers["X-Content-Type-Options"] == "nosniff"
                elif response.mimetype == "text/html":
                    pages[f"{role} {url}"] = response.get_data(as_text=True)
    return pages


def test_script_in_every_free_text_field_is_escaped_everywhere(world: World) -> None:
    a = world.clients["household_a"]
    token = world.tokens["household_a"]
    batch_fields = free_text(__import__("app.steps", fromlist=["BatchSchema"]).BatchSchema)
    assert {"product", "variety", "plot"} <= set(batch_fields)
    # The batch's own texts, through the form.
    form = {name: payload(f"batch.{name}") for name in batch_fields}
    form |= {"unit": "kg", "start_date": "2026-01-01", "form_token": "script-injection-batch"}
    response = a.post("/household/batches/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    injected = [f"batch.{name}" for name in batch_fields]
    # Every step type's texts, on household A's batch (API: the same services as the forms).
    for name, step_type in STEP_TYPES.items():
        texts = free_text(step_type.schema)
        body: dict[str, Any] = {"kind": name}
        for field_name, field in step_type.schema().fields.items():
            if field.required and field_name not in texts:
                body[field_name] = "inspected" if name == "inspection" else "2"
        body |= {t: payload(f"{name}.{t}") for t in texts}
        response = a.post(f"/api/v1/batches/{world.batch}/steps", json=body, headers=bearer(token))
        if response.status_code == 422 and "result" in response.get_json().get("errors", {}):
            body["result"] = "pass"
            response = a.post(f"/api/v1/batches/{world.batch}/steps", json=body,
                              headers=bearer(token))  # fmt: skip
        assert response.status_code == 201, (name, response.get_json())
        injected += [f"{name}.{t}" for t in texts]
    fix = {"reason": payload("correction.reason")}
    response = a.post(f"/api/v1/steps/{world.step_seq}/corrections", json=fix,
                      headers=bearer(token))  # fmt: skip
    assert response.status_code == 201
    injected.append("correction.reason")
    # The household profile (public and private texts).
    profile = {name: payload(f"profile.{name}") for name in PUBLIC_FIELDS}
    profile["bank_account_name"] = payload("profile.bank_account_name")
    profile |= {name: "" for name in PRIVATE_FIELDS if name not in profile}
    profile |= {"bank_bin": BANK_BIN, "bank_account": ACCOUNT}  # A sells: its account must stay
    response = a.post("/household/profile", data=profile)
    assert response.status_code == 302, response.get_data(as_text=True)[:800]
    injected += [f"profile.{name}" for name in (*PUBLIC_FIELDS, "bank_account_name")]

    pages = all_pages(world)
    for where, page in pages.items():
        assert "<script>alert(" not in page, f"unescaped script on {where}"
        assert "<img src=x" not in page, f"unescaped markup on {where}"
    html = "\n".join(pages.values())
    for field in injected:
        if field == "profile.bank_account_name":
            continue  # private: shown only on the profile form, checked below
        assert f"alert(&#34;{field}&#34;)" in html, f"{field} is shown nowhere: test it elsewhere"
    own_form = a.get("/household/profile").get_data(as_text=True)
    assert "alert(&#34;profile.bank_account_name&#34;)" in own_form
    assert "<script>" not in own_form


# SQL injection -----------------------------------------------------------------------------


def test_sql_injection_in_query_parameters_changes_nothing(world: World) -> None:
    before = counts(world.app)
    a = world.clients["household_a"]
    for template, parameter in QUERY_PARAMETERS:
        path = template.format(batch=world.batch, photo=world.photo, household=world.household)
        for attempt in SQL_INJECTIONS:
            response = a.get(path, query_string={parameter: attempt},
                             headers=world.api_headers("household_a"))  # fmt: skip
            assert response.status_code < 500, (path, parameter, attempt)
            assert response.status_code in (200, 302, 400, 422), (
                path,
                parameter,
                response.status_code,
            )
            response.close()
    assert counts(world.app) == before
    assert a.get("/household/").status_code == 200


# Login throttling --------------------------------------------------------------------------


def test_login_is_throttled_per_phone_and_per_address(world: World) -> None:
    client = world.app.test_client()
    for _ in range(5):
        wrong = client.post("/auth/login", data={"phone": HOUSEHOLD_PHONES[1], "password": "sai"})
        assert wrong.status_code == 401
    right = client.post("/auth/login", data={"phone": HOUSEHOLD_PHONES[1], "password": PASSWORD})
    assert right.status_code == 429  # even the right password waits now
    other = world.app.test_client()
    for n in range(30):  # many phones from one address
        other.post("/auth/login", data={"phone": f"09130{n:05d}", "password": "sai"},
                   environ_base={"REMOTE_ADDR": "203.0.113.9"})  # fmt: skip
    blocked = other.post("/auth/login", data={"phone": HOUSEHOLD_PHONES[0], "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "203.0.113.9"})  # fmt: skip
    assert blocked.status_code == 429
    elsewhere = world.app.test_client().post(
        "/auth/login", data={"phone": HOUSEHOLD_PHONES[0], "password": PASSWORD}
    )
    assert elsewhere.status_code == 302


# Webhooks ----------------------------------------------------------------------------------


def test_every_webhook_is_listed(world: World) -> None:
    found = {r.rule for r in world.app.url_map.iter_rules() if "webhook" in r.rule}
    assert found == {path for path, _, _ in WEBHOOKS}, "list each webhook in WEBHOOKS"


def test_webhooks_refuse_a_missing_or_wrong_key(world: World) -> None:
    before = counts(world.app)
    client = world.app.test_client()
    for path, header, body in WEBHOOKS:
        for headers in ({}, {header: "Apikey wrong-key"}, {header: ""}):
            response = client.post(path, json=body, headers=headers)
            assert response.status_code in (401, 403), (path, headers, response.status_code)
    assert counts(world.app) == before

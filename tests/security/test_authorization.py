"""The authorization matrix: every route of ``app.url_map`` (with real ids substituted), every
method, as household A (the owner of what the URLs name), household B, the co-op admin and an
anonymous visitor, against the outcome expected for that role.

A route that nobody classified fails the test loudly: add it to ACCESS (and to url_args if it
takes new arguments) when it is merged.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from tests.security.conftest import ROLES, World

# Outcomes: what a role gets from a route.
OK = "ok"  # served (any status that is not one of the refusals below, and never a 5xx)
LOGIN = "login"  # redirected to the login page
ADMIN_HOME = "admin_home"  # a co-op admin sent to the admin area
FORBIDDEN = "forbidden"  # 403
MISSING = "missing"  # 404: another household's things do not exist for you
UNAUTHORIZED = "unauthorized"  # 401: the API without a valid bearer token

# Access classes: the expected outcome for (anonymous, household A, household B, admin).
PUBLIC = (OK, OK, OK, OK)
HOUSEHOLD = (LOGIN, OK, OK, ADMIN_HOME)  # a household's own area, nothing named in the URL
OWNED = (LOGIN, OK, MISSING, ADMIN_HOME)  # household A's batch, step or photo in the URL
ADMIN = (LOGIN, FORBIDDEN, FORBIDDEN, OK)
# The world's transfer waits in household A's inbox, which is not the admins' inbox.
ADMIN_INBOX_ITEM = (LOGIN, FORBIDDEN, FORBIDDEN, MISSING)
LOGGED_IN = (LOGIN, LOGIN, LOGIN, LOGIN)  # logout: every role ends on the login page
API = (UNAUTHORIZED, OK, OK, FORBIDDEN)  # bearer token of a household; admins have no household
API_OWNED = (UNAUTHORIZED, OK, MISSING, FORBIDDEN)
API_DOCS = PUBLIC
BAD_LOGIN = (UNAUTHORIZED,) * 4  # POST /auth/login with no credentials
WEBHOOK = (UNAUTHORIZED,) * 4  # a payment webhook without its provider's key, whoever sends it

# Every endpoint, by method where they differ. The lead classifies new routes here at merge.
ACCESS: dict[str, dict[str, tuple[str, ...]]] = {
    "static": {"GET": PUBLIC},
    "health.healthz": {"GET": PUBLIC},
    "api-docs.openapi_json": {"GET": API_DOCS},
    "auth.login": {"GET": PUBLIC, "POST": BAD_LOGIN},
    "auth.logout": {"POST": LOGGED_IN},
    "storefront.batch": {"GET": PUBLIC},
    "storefront.batch_qr": {"GET": PUBLIC},
    "storefront.digital_link": {"GET": PUBLIC},
    "storefront.household": {"GET": PUBLIC},
    "storefront.household_qr": {"GET": PUBLIC},
    "storefront.photo": {"GET": PUBLIC},
    "storefront.static": {"GET": PUBLIC},
    "storefront.market": {"GET": PUBLIC},
    "storefront.batch_export": {"GET": PUBLIC},
    "storefront.batch_epcis": {"GET": PUBLIC},
    "storefront.batch_labels": {"GET": PUBLIC},
    # A buyer's order: anyone holding the link's token (no account needed).
    "storefront.orders.order_batch": {"GET": PUBLIC, "POST": PUBLIC},
    "storefront.orders.order": {"GET": PUBLIC},
    "storefront.orders.order_status": {"GET": PUBLIC},
    "storefront.orders.order_qr": {"GET": PUBLIC},
    "orders.create_order": {"POST": PUBLIC},
    "orders.get_order": {"GET": PUBLIC},
    "payments.sepay": {"POST": WEBHOOK},
    # The public audit API.
    "ledger.checkpoint": {"GET": PUBLIC},
    "ledger.key": {"GET": PUBLIC},
    "ledger.authority_keys": {"GET": PUBLIC},
    "ledger.checkpoints": {"GET": PUBLIC},
    "ledger.entries": {"GET": PUBLIC},
    "ledger.inclusion": {"GET": PUBLIC},
    "ledger.consistency": {"GET": PUBLIC},
    "ledger.export": {"GET": PUBLIC},
    "household.dashboard": {"GET": HOUSEHOLD},
    "household.new_batch": {"GET": HOUSEHOLD, "POST": HOUSEHOLD},
    "household.profile": {"GET": HOUSEHOLD, "POST": HOUSEHOLD},
    "household.batch": {"GET": OWNED},
    "household.record": {"GET": OWNED, "POST": OWNED},
    "household.correct": {"GET": OWNED, "POST": OWNED},
    "household.photo": {"GET": OWNED},
    "household.steps_csv": {"GET": HOUSEHOLD},
    "household.offer": {"GET": OWNED, "POST": OWNED},
    "household.orders": {"GET": HOUSEHOLD},
    "household.confirm": {"POST": OWNED},
    "household.hand_over": {"POST": OWNED},
    "household.assign": {"POST": OWNED},
    "admin.overview": {"GET": ADMIN},
    "admin.enroll": {"GET": ADMIN, "POST": ADMIN},
    "admin.household": {"GET": ADMIN},
    "admin.edit": {"GET": ADMIN, "POST": ADMIN},
    "admin.reissue": {"POST": ADMIN},
    "admin.revoke": {"POST": ADMIN},
    "admin.hamlet_steps_csv": {"GET": ADMIN},
    "admin.household_steps_csv": {"GET": ADMIN},
    "admin.payments_inbox": {"GET": ADMIN},
    "admin.assign_payment": {"POST": ADMIN_INBOX_ITEM},
    "batches.list_batches": {"GET": API},
    "batches.create_batch": {"POST": API},
    "batches.get_batch": {"GET": API_OWNED},
    "steps.list_steps": {"GET": API_OWNED},
    "steps.record_step": {"POST": API_OWNED},
    "steps.correct_step": {"POST": API_OWNED},
    "photos.get_photo": {"GET": API_OWNED},
    "offers.put_offer": {"PUT": API_OWNED},
}

# Endpoints whose <code> is a household's, not a batch's.
HOUSEHOLD_CODE = {"storefront.household", "storefront.household_qr", "admin.household",
                  "admin.edit", "admin.reissue", "admin.revoke",
                  "admin.household_steps_csv"}  # fmt: skip
# Endpoints whose <code> is an order's.
ORDER_CODE = {"household.confirm", "household.hand_over"}
# A file each static folder has.
STATIC_FILE = {"static": "app.css", "storefront.static": "verify.js"}


def url_args(world: World, rule: Rule) -> dict[str, Any]:
    """Real values for the rule's arguments: household A's things."""
    values: dict[str, Any] = {
        "code": (
            world.household
            if rule.endpoint in HOUSEHOLD_CODE
            else world.order_code
            if rule.endpoint in ORDER_CODE
            else world.batch
        ),
        "token": world.order_token,
        "payment_id": world.payment_id,
        "step_id": world.step_id,
        "seq": world.step_seq,
        "sha256": world.photo,
        "kind": "svg" if rule.endpoint.endswith("_qr") else "harvest",
        "gtin": world.gtin,
        "lot": world.lot,
        "qualifiers": "21/12345",
        "filename": STATIC_FILE.get(rule.endpoint, ""),
    }
    missing = set(rule.arguments) - values.keys()
    assert not missing, f"{rule.rule}: give url_args a real value for {sorted(missing)}"
    return {name: values[name] for name in rule.arguments}


def rules(app: Any) -> list[Rule]:
    """Every rule; logging out last (it ends the roles' sessions)."""
    return sorted(
        app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.endpoint, r.rule)
    )


def methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def outcome(response: Any) -> str:
    status = response.status_code
    assert status < 500, f"{status}: {response.get_data(as_text=True)[:300]}"
    if status in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        if location.startswith("/auth/login"):
            return LOGIN
        if location.startswith("/admin/"):
            return ADMIN_HOME
    return {401: UNAUTHORIZED, 403: FORBIDDEN, 404: MISSING}.get(status, OK)


def url_for_rule(world: World, rule: Rule) -> str:
    adapter = world.app.url_map.bind("goc.test")
    url: str = adapter.build(rule.endpoint, url_args(world, rule))
    method = methods(rule)[0]
    assert world.app.url_map.bind("goc.test").match(url, method=method)[0] == rule.endpoint
    return url


def request(world: World, role: str, method: str, url: str) -> Any:
    client = world.clients[role]
    if url.startswith("/api/v1/"):  # an empty JSON object: the caller's reach is checked first
        body = {"json": {}} if method in ("POST", "PUT") else {}
        return client.open(url, method=method, headers=world.api_headers(role), **body)
    return client.open(url, method=method)


def test_every_route_is_classified(world: World) -> None:
    found = {(rule.endpoint, method) for rule in rules(world.app) for method in methods(rule)}
    classified = {(endpoint, method) for endpoint, by in ACCESS.items() for method in by}
    assert not found - classified, f"classify these routes in ACCESS: {sorted(found - classified)}"
    assert not classified - found, f"ACCESS names routes that are gone: {classified - found}"


def test_authorization_matrix(world: World) -> None:
    failures = []
    for rule in rules(world.app):
        url = url_for_rule(world, rule)
        for method in methods(rule):
            expected = ACCESS[rule.endpoint][method]
            for role, wanted in zip(ROLES, expected, strict=True):
                with request(world, role, method, url) as response:
                    got = outcome(response)
                if got != wanted:
                    failures.append(f"{method} {url} as {role}: expected {wanted}, got {got}")
    assert not failures, "\n".join(failures)


def test_a_browser_session_does_not_open_the_api(world: World) -> None:
    """The API authenticates by bearer token only: a logged-in cookie is not enough."""
    for role in ("household_a", "admin"):
        response = world.clients[role].get("/api/v1/batches")
        assert response.status_code == 401


def test_out_of_range_and_foreign_ids_are_404(world: World) -> None:
    """Ids another household owns, or that do not exist, look the same: 404 (no 5xx)."""
    a = world.clients["household_a"]
    for url in (
        f"/household/batches/{world.other_batch}",
        "/household/steps/2147483648/correct",
        "/household/steps/99999/correct",
        f"/household/photos/{'0' * 64}.jpg",
        "/b/NO-SUCH-CODE",
        f"/p/{'0' * 64}.jpg",
    ):
        assert a.get(url).status_code == 404, url

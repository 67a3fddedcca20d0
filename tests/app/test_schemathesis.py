"""Schemathesis against the app's own OpenAPI document: every operation, authenticated as a
household, with generated (valid and invalid) parameters and bodies. No response may be a 5xx,
and every response must conform to the document (status, content type, body schema, headers).

Left out: "schema-valid data is accepted". The services check more than a JSON schema can say
(a GTIN's check digit, a start date up to next year), answering 422 naming the field, which
the document declares for every write.

Bounded for CI: a few dozen examples per operation, on SQLite only (the API's behaviour does not
depend on the backend; tests/app/test_api.py covers both)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.app.test_api import token_for
from tests.support import HOUSEHOLD_PHONES

MAX_EXAMPLES = 40


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_api_conforms_to_its_openapi_document(app: Any) -> None:
    headers = {"Authorization": f"Bearer {token_for(app, HOUSEHOLD_PHONES[0])}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7  # every operation of the document, those added later too

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()


def test_a_step_number_beyond_the_column_is_404(client: Any, app: Any) -> None:
    """Found by schemathesis: a huge number in the URL reached the database (a 500)."""
    headers = {"Authorization": f"Bearer {token_for(app, HOUSEHOLD_PHONES[0])}"}
    for seq in (2**31, 2**63, 10**30):
        response = client.post(f"/api/v1/steps/{seq}/corrections", json={"reason": "x"},
                               headers=headers)  # fmt: skip
        assert response.status_code == 404, response.get_data(as_text=True)

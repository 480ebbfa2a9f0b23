"""Defect 6: an id at or above 2**63 reached the database driver and answered HTTP 500.

Every integer path and query parameter is bounded in the schema, and an out-of-range value gets
the usual 422 envelope; checked on every operation the schema has, so new routes are covered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sightline.api.app import create_app
from sightline.api.params import MAX_ID
from sightline.domain.access import Role
from sightline.services.catalog import add_agency
from sightline.services.context import AppContext
from tests.support.api import BASE_URL, add_person, sign_in
from tests.support.corpus import TEST_REQUESTER, ingest_seeds

HUGE = [2**63, 2**63 + 1, 2**64, MAX_ID + 1]


def _filler(values: dict[str, str]) -> Callable[[re.Match[str]], str]:
    return lambda match: values.get(match[1], "1")


def _integer_parameters(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["schema"].get("type") == "integer":
                    found.append((method.upper(), path, parameter))
    return found


def test_every_integer_parameter_is_bounded_in_the_schema(sqlite_ctx: AppContext) -> None:
    schema = create_app(sqlite_ctx.settings).openapi()
    parameters = _integer_parameters(schema)
    assert len(parameters) >= 11
    for method, path, parameter in parameters:
        bounds = parameter["schema"]
        assert "minimum" in bounds, f"{method} {path} {parameter['name']}"
        assert bounds.get("maximum", 2**63) <= MAX_ID, f"{method} {path} {parameter['name']}"


@pytest.mark.parametrize("value", HUGE)
def test_an_id_beyond_the_bound_is_a_422_never_a_500(
    sqlite_ctx: AppContext, tmp_path: Path, value: int
) -> None:
    add_agency(sqlite_ctx, "TEST-DE", "Test unit", "DE", requester=TEST_REQUESTER)
    ingest_seeds(sqlite_ctx, tmp_path / "in", range(1, 2), agency="TEST-DE", case="AZ-1")
    admin = add_person(sqlite_ctx, "TEST-DE", "admin.de", Role.AGENCY_ADMIN)
    app = create_app(sqlite_ctx.settings)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        sign_in(client, admin)
        for method, path, parameter in _integer_parameters(app.openapi()):
            name = parameter["name"]
            values = {name: str(value), "agency": "TEST-DE"}
            url = re.sub(r"{(\w+)}", _filler(values), path)
            params = {name: value} if parameter["in"] == "query" else None
            response = client.request(method, url, params=params)
            what = f"{method} {url} {name}={value}"
            assert response.status_code == 422, f"{what}: {response.status_code} {response.text}"
            assert response.json()["error"]["code"] == "invalid_input", what

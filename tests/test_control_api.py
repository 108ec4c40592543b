"""The control API's OpenAPI document: served behind the admin key, valid OpenAPI 3, and
listing every admin route with its method and the gateway's error shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from openapi_spec_validator import validate

from gateway.api.control.app import ROUTES
from support.clients import CLIENT_TIMEOUT_S
from support.control import Admin
from support.gateway_process import GatewayProcess


@pytest.fixture
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=CLIENT_TIMEOUT_S) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_document_needs_an_admin_key(gateway: GatewayProcess, http: httpx.Client) -> None:
    assert http.get("/openapi.json").status_code == 401
    with Admin(gateway) as admin:
        user = admin.generate_key(key_alias="docs-user")["key"]
        manager = admin.generate_key(key_alias="docs-manager", key_type="management")["key"]
    refused = http.get("/openapi.json", headers=bearer(user))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_an_admin_key"
    assert http.get("/openapi.json", headers=bearer(manager)).status_code == 200


def test_the_document_is_valid_openapi_and_lists_every_admin_route(
    gateway: GatewayProcess, http: httpx.Client
) -> None:
    response = http.get("/openapi.json", headers=gateway.auth_headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    validate(document)  # raises on anything the OpenAPI 3 schema refuses
    assert document["info"]["title"] == "gateway"
    paths = document["paths"]
    for route in ROUTES:
        path = route.path.replace(":path}", "}")
        assert path in paths, path
        operation = paths[path][route.method.lower()]
        assert operation["summary"] == route.summary
        responses = operation["responses"]
        assert "422" not in responses  # the gateway answers 400, never FastAPI's 422
        for status in ("400", "401", "403"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}
        if route.body:
            assert "application/json" in operation["requestBody"]["content"]
    # The data plane's routes are described too, with their bodies' required fields.
    chat = paths["/v1/chat/completions"]["post"]
    chat_body = chat["requestBody"]["content"]["application/json"]["schema"]
    assert chat_body["required"] == ["model", "messages"]
    messages = paths["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]
    assert messages["schema"]["required"] == ["model", "messages", "max_tokens"]
    for path in ("/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages/count_tokens"):
        assert "post" in paths[path], path
    assert "get" in paths["/v1/models"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Bodies with a model are described by it: the same model checks them.
    put = paths["/admin/overrides/{group}"]["put"]["requestBody"]
    schema = put["content"]["application/json"]["schema"]
    assert put["required"] is True
    assert sorted(schema["required"]) == ["reason", "ttl_seconds"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["ttl_seconds"]["maximum"] == 30 * 86400
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["message", "type"]


def test_errors_keep_the_gateways_shape_through_fastapi(
    gateway: GatewayProcess, http: httpx.Client
) -> None:
    headers = gateway.auth_headers()
    unknown = http.get("/admin/nothing-here", headers=headers)
    assert unknown.status_code == 404
    wrong = http.delete("/key/list", headers=headers)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["message"] == "Method DELETE is not allowed on /key/list; use GET."
    assert wrong.headers["x-request-id"]
    bad = http.post("/key/generate", headers=headers, json={"max_budget": "lots"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "max_budget"


def test_every_documented_route_is_served(gateway: GatewayProcess, http: httpx.Client) -> None:
    document = http.get("/openapi.json", headers=gateway.auth_headers()).json()
    checked = 0
    for path, methods in document["paths"].items():
        for method in methods:
            # Reads, and the inference routes with an empty body (refused with a 400); the
            # admin writes would change the shared gateway (test_admin_bad_input covers them).
            if "{" in path or (method != "get" and not path.startswith("/v1/")):
                continue
            response = http.request(method.upper(), path, headers=gateway.auth_headers(), json={})
            assert response.status_code not in (404, 405), (method, path, response.text)
            checked += 1
    assert checked >= 12


def test_one_auth_policy_on_every_admin_route(gateway: GatewayProcess, http: httpx.Client) -> None:
    """No key: 401; a virtual key without management rights: 403; a management key: served
    (spend, cache and health included, which took the master key only before)."""
    with Admin(gateway) as admin:
        user = admin.generate_key(key_alias="policy-user")["key"]
        manager = admin.generate_key(key_alias="policy-manager", key_type="management")["key"]
    for route in ROUTES:
        path = route.path.replace("{group:path}", "chat").replace("{key:path}", "sk-x")
        anonymous = http.request(route.method, path, json={})
        assert anonymous.status_code == 401, (route.path, anonymous.text)
        refused = http.request(route.method, path, headers=bearer(user), json={})
        assert refused.status_code == 403, (route.path, refused.text)
        assert refused.json()["error"]["code"] == "not_an_admin_key"
    for path in ("/spend/report?group_by=day", "/spend/logs", "/health", "/admin/board"):
        answer = http.get(path, headers=bearer(manager))
        assert answer.status_code == 200, (path, answer.text)

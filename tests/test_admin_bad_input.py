"""Bad input on every admin route gets a 4xx with a clear message, in OpenAI's error shape.

Missing or wrong keys, a key that is not a management key, wrong types, unknown
ids, broken bodies: each is answered 400, 401, 403, 404, 405 or 413, never 500.
The gateway runs on its embedded database, with no Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.configs import MASTER_KEY, upstream_config
from support.control import Admin, error_of
from support.gateway_process import GatewayProcess, StartGateway
from support.mock_upstream import MockUpstream

SALT_KEY = "salt-key-of-the-bad-input-tests"

# Every admin route: (method, path).
ROUTES = [
    ("GET", "/admin/overrides"),
    ("PUT", "/admin/overrides/chat"),
    ("GET", "/admin/overrides/chat"),
    ("DELETE", "/admin/overrides/chat"),
    ("GET", "/admin/audit"),
    ("POST", "/key/generate"),
    ("POST", "/key/update"),
    ("POST", "/key/delete"),
    ("POST", "/key/regenerate"),
    ("POST", "/key/sk-some-key/regenerate"),
    ("GET", "/key/info"),
    ("GET", "/key/list"),
    ("POST", "/team/new"),
    ("POST", "/team/update"),
    ("POST", "/team/delete"),
    ("GET", "/team/info"),
    ("POST", "/model/new"),
    ("POST", "/model/update"),
    ("POST", "/model/delete"),
    ("GET", "/model/info"),
    ("POST", "/config/reload"),
]


@pytest.fixture
def gateway(upstream: MockUpstream, start_gateway: StartGateway) -> GatewayProcess:
    return start_gateway(
        upstream_config(upstream.base_url),
        env={"GATEWAY_SALT_KEY": SALT_KEY, "STORE_MODEL_IN_DB": "True"},
    )


@pytest.fixture
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30.0) as client:
        yield client


def call(
    http: httpx.Client,
    method: str,
    path: str,
    key: str | None,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if isinstance(body, bytes):
        return http.request(
            method, path, content=body, headers={**headers, "content-type": "application/json"}
        )
    return http.request(method, path, json=body, params=params, headers=headers)


def assert_refused(response: httpx.Response, status: int, needle: str = "") -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    error = error_of(response)
    assert needle in error["message"], (needle, error)
    assert response.headers["x-request-id"]
    return error


def test_every_admin_route_needs_the_master_key_or_a_management_key(
    gateway: GatewayProcess, http: httpx.Client
) -> None:
    with Admin(gateway) as admin:
        user_key = admin.generate_key(key_alias="user")["key"]
        ops_key = admin.generate_key(key_alias="ops", key_type="management")["key"]
    for method, path in ROUTES:
        assert_refused(call(http, method, path, None), 401, "Missing API key")
        assert_refused(call(http, method, path, "sk-wrong"), 401, "Invalid API key")
        error = assert_refused(call(http, method, path, user_key), 403, "may not call the admin")
        assert error["code"] == "not_an_admin_key"
    # A management key is an admin: it lists keys, and the audit names it.
    with Admin(gateway, ops_key) as ops:
        assert ops.ok(ops.get("/key/list"))["total_count"] == 2
        ops.ok(ops.post("/key/update", {"key_alias": "user", "max_budget": 5}))
    with Admin(gateway) as admin:
        audit = admin.ok(admin.get("/admin/audit", target_kind="key", limit=1))["data"]
    assert audit[0]["actor"] == "key:ops" and audit[0]["action"] == "update"


def test_broken_bodies_unknown_paths_and_methods_are_4xx(
    gateway: GatewayProcess, http: httpx.Client
) -> None:
    for method, path in ROUTES:
        if method not in ("POST", "PUT"):
            continue
        assert_refused(call(http, method, path, MASTER_KEY, b"{not json"), 400, "not valid JSON")
        assert_refused(call(http, method, path, MASTER_KEY, b"[1, 2]"), 400, "JSON object")
        too_big = b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}'
        assert_refused(call(http, method, path, MASTER_KEY, too_big), 413)
    assert_refused(call(http, "GET", "/key/generate", MASTER_KEY), 405, "use POST")
    assert_refused(call(http, "PATCH", "/admin/overrides/chat", MASTER_KEY), 405)
    assert_refused(call(http, "GET", "/admin/overrides/", MASTER_KEY), 404, "Name the model")
    assert_refused(call(http, "POST", "/key/unknown-action", MASTER_KEY, {}), 404)


WRONG_BODIES: list[tuple[str, str, dict[str, Any], int, str]] = [
    # keys
    ("POST", "/key/generate", {"models": "chat"}, 400, "'models'"),
    ("POST", "/key/generate", {"max_budget": "ten"}, 400, "'max_budget'"),
    ("POST", "/key/generate", {"max_budget": -1}, 400, "zero or more"),
    ("POST", "/key/generate", {"rpm_limit": 1.5}, 400, "'rpm_limit'"),
    ("POST", "/key/generate", {"tpm_limit": True}, 400, "'tpm_limit'"),
    ("POST", "/key/generate", {"max_parallel_requests": -3}, 400, "max_parallel_requests"),
    ("POST", "/key/generate", {"budget_duration": "soon"}, 400, "not a duration"),
    ("POST", "/key/generate", {"duration": "30x"}, 400, "'duration'"),
    ("POST", "/key/generate", {"expires": 12}, 400, "'expires'"),
    ("POST", "/key/generate", {"expires": "next tuesday"}, 400, "ISO 8601"),
    ("POST", "/key/generate", {"duration": "1h", "expires": "1h"}, 400, "not both"),
    ("POST", "/key/generate", {"metadata": [1]}, 400, "'metadata'"),
    ("POST", "/key/generate", {"blocked": "yes"}, 400, "'blocked'"),
    ("POST", "/key/generate", {"key_type": "root"}, 400, "'key_type'"),
    ("POST", "/key/generate", {"key": "no-prefix-key-1234567890"}, 400, "start with 'sk-'"),
    ("POST", "/key/generate", {"key": "sk-short"}, 400, "characters long"),
    ("POST", "/key/generate", {"team_id": "no-such-team"}, 400, "Unknown team"),
    ("POST", "/key/generate", {"tags": ["a"]}, 400, "not supported"),
    ("POST", "/key/generate", {"colour": "blue"}, 400, "Unknown field 'colour'"),
    ("POST", "/key/generate", {"key_alias": 7}, 400, "'key_alias'"),
    ("POST", "/key/update", {}, 400, "Name the key"),
    ("POST", "/key/update", {"key": "sk-no-such-key-000000000"}, 404, "Unknown key"),
    ("POST", "/key/update", {"key_alias": "nobody"}, 404, "No key has the alias"),
    ("POST", "/key/update", {"key": 12}, 400, "'key'"),
    ("POST", "/key/delete", {}, 400, "Name the keys"),
    ("POST", "/key/delete", {"keys": "sk-x"}, 400, "'keys'"),
    ("POST", "/key/delete", {"keys": ["sk-no-such-key-000000000"]}, 404, "Unknown key"),
    ("POST", "/key/delete", {"key_aliases": ["nobody"]}, 404, "No key has the alias"),
    ("POST", "/key/regenerate", {}, 400, "Name the key"),
    ("POST", "/key/regenerate", {"key": "sk-no-such-key-000000000"}, 404, "Unknown key"),
    ("POST", "/key/sk-no-such-key-0000000/regenerate", {}, 404, "Unknown key"),
    # teams
    ("POST", "/team/new", {"team_id": ""}, 400, "'team_id'"),
    ("POST", "/team/new", {"rpm_limit": "many"}, 400, "'rpm_limit'"),
    ("POST", "/team/new", {"key_alias": "x"}, 400, "Unknown field"),
    ("POST", "/team/update", {}, 400, "Missing 'team_id'"),
    ("POST", "/team/update", {"team_id": "no-such-team"}, 404, "Unknown team"),
    ("POST", "/team/delete", {}, 400, "team_ids"),
    ("POST", "/team/delete", {"team_ids": ["no-such-team"]}, 404, "Unknown team"),
    # models
    ("POST", "/model/new", {}, 400, "required field is missing"),
    ("POST", "/model/new", {"model_name": 5, "litellm_params": {"model": "mock/x"}}, 400, ""),
    ("POST", "/model/new", {"model_name": "x", "litellm_params": "mock/x"}, 400, ""),
    ("POST", "/model/update", {}, 400, "Name the model"),
    ("POST", "/model/update", {"id": "db-none"}, 404, "Unknown model id"),
    ("POST", "/model/update", {"id": "a", "model_info": {"id": "b"}}, 400, "differ"),
    ("POST", "/model/delete", {"id": 3}, 400, "Name the model"),
    ("POST", "/model/delete", {"id": "chat-deployment"}, 400, "config file"),
    # overrides
    ("PUT", "/admin/overrides/chat", {}, 400, "ttl_seconds"),
    ("PUT", "/admin/overrides/chat", {"ttl_seconds": 60, "reason": ["x"]}, 400, "'reason'"),
    (
        "PUT",
        "/admin/overrides/chat",
        {"fallbacks": "text", "ttl_seconds": 60, "reason": "x"},
        400,
        "'fallbacks'",
    ),
    ("DELETE", "/admin/overrides/chat", {"reason": 5}, 400, "'reason'"),
    ("DELETE", "/admin/overrides/chat", {}, 404, "No override"),
    # reload
    ("POST", "/config/reload", {"force": True}, 400, "Unknown field"),
]

WRONG_PARAMS: list[tuple[str, dict[str, Any], int, str]] = [
    ("/key/info", {}, 400, "Missing query parameter 'key'"),
    ("/key/info", {"key": "sk-no-such-key-000000000"}, 404, "Unknown key"),
    ("/key/info", {"key": "x", "extra": "1"}, 400, "Unknown query parameter"),
    ("/key/list", {"size": "0"}, 400, "'size'"),
    ("/key/list", {"size": "1000"}, 400, "'size'"),
    ("/key/list", {"page": "first"}, 400, "'page'"),
    ("/key/list", {"return_full_object": "maybe"}, 400, "return_full_object"),
    ("/team/info", {}, 400, "Missing 'team_id'"),
    ("/team/info", {"team_id": "no-such-team"}, 404, "Unknown team"),
    ("/model/info", {"litellm_model_id": "db-none"}, 404, "Unknown model id"),
    ("/admin/audit", {"limit": "0"}, 400, "'limit'"),
    ("/admin/audit", {"target_kind": "planet"}, 400, "'target_kind'"),
    ("/admin/overrides/chat", {}, 404, "No override"),
    ("/admin/overrides", {"group": "chat"}, 400, "Unknown query parameter"),
]


def test_wrong_types_and_unknown_ids_get_400_or_404_naming_the_field(
    http: httpx.Client,
) -> None:
    for method, path, body, status, needle in WRONG_BODIES:
        assert_refused(call(http, method, path, MASTER_KEY, body), status, needle)
    for path, params, status, needle in WRONG_PARAMS:
        assert_refused(call(http, "GET", path, MASTER_KEY, params=params), status, needle)


def test_runtime_models_off_or_without_a_salt_key_are_refused_with_a_400(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    model = {"model_name": "x", "litellm_params": {"model": "mock/x"}}
    off = start_gateway(upstream_config(upstream.base_url), env={"GATEWAY_SALT_KEY": SALT_KEY})
    with Admin(off) as admin:
        error = assert_refused(admin.post("/model/new", model), 400, "store_model_in_db")
    assert error["code"] == "store_model_in_db_off"
    config = upstream_config(upstream.base_url)
    config["general_settings"]["store_model_in_db"] = True
    no_salt = start_gateway(config)
    with Admin(no_salt) as admin:
        error = assert_refused(admin.post("/model/new", model), 400, "GATEWAY_SALT_KEY")
    assert error["code"] == "salt_key_missing"


def test_the_admin_api_needs_a_master_key_to_exist(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(upstream_config(upstream.base_url), master_key=None)
    with httpx.Client(base_url=gateway.base_url, timeout=30.0) as http:
        assert_refused(call(http, "GET", "/key/list", None), 403, "needs a master key")

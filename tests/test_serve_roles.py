"""``gateway serve --role``: the control plane and the data plane as separate processes.

A control process serves only the admin API (and spend reports, metrics); a
data process only the model routes. Started side by side in one directory,
they share the embedded database, so a key made on the control process works
on the data process.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx

from support.configs import upstream_config
from support.control import Admin, error_of, wait_for
from support.gateway_process import StartGateway, run_gateway
from support.mock_upstream import MockUpstream

MESSAGES = [{"role": "user", "content": "hello"}]
ROOT = Path(__file__).resolve().parent.parent


def test_control_and_data_processes_serve_only_their_routes_and_share_keys(
    upstream: MockUpstream, start_gateway: StartGateway
) -> None:
    config = upstream_config(upstream.base_url)
    control = start_gateway(config, args=["--role", "control"])
    data = start_gateway(config, env={"GATEWAY_ROLE": "data"})
    with httpx.Client(timeout=30.0) as http:
        chat = {"model": "chat", "messages": MESSAGES}
        response = http.post(
            f"{control.v1_url}/chat/completions", headers=control.auth_headers(), json=chat
        )
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_served_here"
        spend = http.get(
            f"{control.base_url}/spend/report?group_by=key", headers=control.auth_headers()
        )
        assert spend.status_code == 200, spend.text
        assert http.get(f"{control.base_url}/metrics").status_code == 200

        listed = http.get(f"{data.base_url}/key/list", headers=data.auth_headers())
        assert listed.status_code == 404 and error_of(listed)["code"] == "not_served_here"
        spend = http.get(f"{data.base_url}/spend/report?group_by=key", headers=data.auth_headers())
        assert spend.status_code == 404

        with Admin(control) as admin:
            key = admin.generate_key(key_alias="split")["key"]

        def served_on_data_process() -> bool:
            response = http.post(
                f"{data.v1_url}/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json=chat,
            )
            return response.status_code == 200

        wait_for(served_on_data_process, "the key on the data process")


def test_an_unknown_role_is_refused() -> None:
    done = run_gateway(["serve", "--role", "everything"])
    assert done.returncode == 2
    assert "invalid choice: 'everything'" in done.stderr


def test_fly_toml_runs_the_control_plane_as_a_private_process_group() -> None:
    fly = tomllib.loads((ROOT / "fly.toml").read_text(encoding="utf-8"))
    assert "--role data" in fly["processes"]["app"]
    assert "--role control" in fly["processes"]["control"]
    # The admin API is not on the public service: only the data plane is.
    assert fly["http_service"]["processes"] == ["app"]
    assert any(vm["processes"] == ["control"] for vm in fly["vm"])
    assert any(check["processes"] == ["control"] for check in fly["checks"].values())

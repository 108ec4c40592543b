"""The Dockerfile, compose file and fly.toml carry the settings production relies on.

Docker cannot run here, so these files are checked as data: ports, health and
metrics paths, process groups, a non-root user, a graceful stop longer than the
gateway's own.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

from gateway.serving import GRACEFUL_SHUTDOWN_S

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60}
    return float(value[:-1]) * units[value[-1]]


def test_dockerfile_runs_as_non_root_with_a_healthcheck_on_the_health_port() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "EXPOSE 4000 4001" in text
    health = next(line for line in text.splitlines() if "HEALTHCHECK" in line)
    assert "--interval" in health
    assert "127.0.0.1:4001/health/liveliness" in text
    assert '"gateway", "serve"' in text


def test_compose_runs_the_gateway_with_postgres_redis_prometheus_and_grafana() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"gateway", "postgres", "redis", "prometheus", "grafana"}
    gateway = services["gateway"]
    assert "4000:4000" in gateway["ports"] and "4001:4001" in gateway["ports"]
    assert gateway["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert gateway["environment"]["REDIS_URL"].startswith("redis://")
    config_mount = next(v for v in gateway["volumes"] if v.endswith(":/app/config/config.yaml:ro"))
    assert (DOCKER / config_mount.split(":")[0]).resolve().is_file()

    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["gateway:4000"]


def test_the_grafana_dashboard_charts_only_metrics_the_gateway_exports() -> None:
    from gateway.observability.metrics import Metrics  # noqa: PLC0415

    dashboard = json.loads((DOCKER / "grafana" / "dashboards" / "gateway.json").read_text())
    exported = Metrics().exposition().decode()
    titles = [panel["title"] for panel in dashboard["panels"]]
    for needed in ("Traffic", "Errors", "latency", "Fallbacks", "cooling", "Spend"):
        assert any(needed.lower() in title.lower() for title in titles), needed
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = {
                name.removesuffix("_bucket")
                for name in re.findall(r"gateway_[a-z_]+", target["expr"])
            }
            for name in names:
                assert f"# TYPE {name} " in exported, (panel["title"], name)


def test_fly_toml_health_checks_hit_the_health_port_and_metrics_the_data_port() -> None:
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    assert fly["build"]["dockerfile"] == "docker/Dockerfile"
    assert "app" in fly["processes"]
    assert "gateway serve" in fly["processes"]["app"]
    service = fly["http_service"]
    assert service["internal_port"] == 4000
    assert service["processes"] == ["app"]
    concurrency = service["concurrency"]
    assert concurrency["type"] == "requests"
    assert 0 < concurrency["soft_limit"] < concurrency["hard_limit"]
    checks = fly["checks"]
    paths = {check["path"] for check in checks.values()}
    assert paths == {"/health/liveliness", "/health/readiness"}
    assert all(check["port"] == 4001 for check in checks.values())
    assert fly["metrics"] == {"port": 4000, "path": "/metrics", "processes": ["app"]}
    assert _seconds(fly["kill_timeout"]) > GRACEFUL_SHUTDOWN_S
    assert fly["vm"][0]["processes"] == ["app"]

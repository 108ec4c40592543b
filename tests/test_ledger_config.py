"""The ledger's config keys are honoured (not reported as unsupported) and validated."""

from __future__ import annotations

from pathlib import Path

from support.gateway_process import run_gateway, write_config

LEDGER_SETTINGS = {
    "database_url": "postgresql://ledger@127.0.0.1:5432/spend",
    "database_connection_pool_limit": 8,
    "proxy_batch_write_at": 30,
    "use_redis_transaction_buffer": True,
    "maximum_spend_logs_retention_period": "30d",
    "ledger_batch_size": 500,
    "ledger_buffer_size": 20000,
    "ledger_data_dir": "/var/lib/gateway",
    "ledger_report_timeout": 5,
}
MODEL = {"model_name": "m", "litellm_params": {"model": "mock/m"}}


def test_ledger_settings_are_accepted_without_warnings(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml", {"model_list": [MODEL], "general_settings": LEDGER_SETTINGS}
    )
    done = run_gateway(["check-config", str(path)])
    assert done.returncode == 0, done.stderr
    for key in LEDGER_SETTINGS:
        assert key not in done.stdout, done.stdout
    assert "OK, 0 warnings" in done.stdout


def test_bad_ledger_settings_are_errors_naming_the_field(tmp_path: Path) -> None:
    general = {"maximum_spend_logs_retention_period": "a month", "proxy_batch_write_at": 0}
    path = write_config(tmp_path / "c.yaml", {"model_list": [MODEL], "general_settings": general})
    done = run_gateway(["check-config", str(path)])
    assert done.returncode == 1
    assert "general_settings.maximum_spend_logs_retention_period" in done.stderr
    assert "general_settings.proxy_batch_write_at" in done.stderr

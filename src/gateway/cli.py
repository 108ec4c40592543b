"""The ``gateway`` command: serve, check-config.

The server modules are imported only once a command needs them: ``serve`` must
set up the metrics directory before anything imports prometheus-client.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import sys
from collections.abc import Sequence

from gateway.config.loader import ConfigError, LoadedConfig, load_or_embedded, read_config_file
from gateway.config.settings import ROLE_ENV, EnvSettings
from gateway.ledger.command import add_parser as add_migrate_parser
from gateway.ledger.command import run_migrate
from gateway.loadtest.command import add_parser as add_loadtest_parser
from gateway.loadtest.command import run_loadtest
from gateway.logs import configure_logging

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check-config":
        return _check_config(args)
    if args.command == "loadtest":
        return run_loadtest(args)
    if args.command == "migrate":
        return run_migrate(args)
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway", description="An OpenAI-compatible LLM gateway."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="LiteLLM-style config.yaml (default: embedded mock models)")
    serve.add_argument("--host", help="address to bind (default: GATEWAY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="data plane port (default: GATEWAY_PORT or 4000)")
    serve.add_argument(
        "--health-port",
        type=int,
        help="health port, served by its own process (default: GATEWAY_HEALTH_PORT or 4001)",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes; >1 runs under gunicorn"
    )
    serve.add_argument(
        "--role",
        choices=("all", "data", "control"),
        help="all: the data plane and the admin API (default, or GATEWAY_ROLE); data: the "
        "data plane only; control: the admin API and spend reports only",
    )
    serve.add_argument(
        "--max-requests",
        type=int,
        help="recycle a worker after this many requests (with jitter); default: "
        "general_settings.max_requests_before_restart, else never",
    )

    serve.add_argument(
        "--max-worker-memory",
        type=float,
        metavar="MiB",
        help="recycle a worker whose own memory (resident, anonymous) passes this many MiB: "
        "it stops accepting, finishes its requests and a new worker takes its place; "
        "default: general_settings.max_worker_memory_mb, else no ceiling",
    )

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("path", help="the config file")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also test that upstreams, Redis and Postgres accept connections",
    )
    check.add_argument(
        "--report",
        action="store_true",
        help="print, for every key of the file, whether it is honoured, honoured under "
        "another name, approximated (how) or ignored (why), and a summary",
    )
    check.add_argument(
        "--format", choices=("text", "json"), default="text", help="the report's format"
    )
    add_loadtest_parser(commands)
    add_migrate_parser(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = EnvSettings()
    configure_logging(settings.log_level)
    try:
        loaded = load_or_embedded(args.config, dict(os.environ), settings)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    host = args.host or settings.gateway_host
    port = args.port or settings.gateway_port
    health_port = args.health_port or settings.gateway_health_port
    if loaded.config.master_key is None and not _is_loopback(host):
        print(
            f"error: refusing to bind {host} without a master key: anyone could use your "
            "providers. Set GATEWAY_MASTER_KEY (or general_settings.master_key), or bind "
            "127.0.0.1.",
            file=sys.stderr,
        )
        return 1
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if health_port == port:
        print("error: --health-port must differ from --port", file=sys.stderr)
        return 2
    max_requests = (
        args.max_requests or loaded.config.file.general_settings.max_requests_before_restart
    )
    max_worker_memory = (
        args.max_worker_memory or loaded.config.file.general_settings.max_worker_memory_mb
    )
    if max_worker_memory is not None and max_worker_memory <= 0:
        print("error: --max-worker-memory must be a positive number of MiB", file=sys.stderr)
        return 2
    # Workers read the role from the environment they inherit.
    os.environ[ROLE_ENV] = args.role or settings.gateway_role
    print(describe(loaded), file=sys.stderr)

    from gateway.serving import ServeOptions, serve  # noqa: PLC0415 - see the module docstring

    return serve(
        ServeOptions(
            config_path=args.config,
            host=host,
            port=port,
            health_host=host,
            health_port=health_port,
            workers=args.workers,
            max_requests=max_requests,
            max_worker_memory_mb=max_worker_memory,
        )
    )


def _check_config(args: argparse.Namespace) -> int:
    from gateway.checks import check_connectivity  # noqa: PLC0415
    from gateway.config.routing_summary import routing_lines  # noqa: PLC0415
    from gateway.providers.registry import deployment_warnings  # noqa: PLC0415

    env = dict(os.environ)
    settings = EnvSettings()
    if args.report:
        return _report(args, env, settings)
    try:
        loaded = load_or_embedded(args.path, env, settings)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    warnings = [
        *loaded.warnings,
        *deployment_warnings(loaded.config.deployments, env),
        *_callback_warnings(loaded, env),
    ]
    for note in loaded.notes:
        print(f"note: {note}")
    for line in routing_lines(loaded.config):
        print(line)
    for warning in warnings:
        print(f"warning: {warning}")
    failures: list[str] = []
    if args.connect:
        failures = asyncio.run(check_connectivity(loaded.config, settings, env))
        for failure in failures:
            print(f"error: {failure}")
    summary = describe(loaded)
    if failures:
        print(f"{summary}: {len(failures)} connectivity errors, {len(warnings)} warnings")
        return 1
    print(f"{summary}: OK, {len(warnings)} warnings")
    return 0


def _report(args: argparse.Namespace, env: dict[str, str], settings: EnvSettings) -> int:
    """The key-by-key report, then whether the file loads (exit 1 when it does not)."""
    from gateway.config.report import as_json, as_text, classify_keys  # noqa: PLC0415

    try:
        data = read_config_file(args.path)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    problems: list[str] = []
    try:
        load_or_embedded(args.path, env, settings)
    except ConfigError as exc:
        problems = exc.problems
    verdicts = classify_keys(data)
    if args.format == "json":
        print(json.dumps({**as_json(verdicts), "loads": not problems, "problems": problems}))
    else:
        print(as_text(verdicts))
        for problem in problems:
            print(f"error: {problem}")
    return 1 if problems else 0


def _callback_warnings(loaded: LoadedConfig, env: dict[str, str]) -> list[str]:
    """Webhook sinks that are named but cannot send (a missing endpoint or key)."""
    from gateway.observability.webhooks import build_sinks  # noqa: PLC0415

    settings = loaded.config.file.litellm_settings
    warnings: list[str] = []
    for path, names in (
        ("litellm_settings.success_callback", settings.success_callback),
        ("litellm_settings.failure_callback", settings.failure_callback),
    ):
        warnings.extend(f"{path}: {problem}" for problem in build_sinks(names, env)[1])
    return warnings


def describe(loaded: LoadedConfig) -> str:
    config = loaded.config
    return (
        f"{config.source}: {len(config.deployments)} deployments in "
        f"{len(config.group_names())} model groups"
    )


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)
    count = len(exc.problems)
    print(f"{exc.source}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())

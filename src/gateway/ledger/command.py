"""``gateway migrate``: bring the ledger's Postgres schema up to date, then exit.

The URL comes from ``--database-url``, else ``DATABASE_URL``, else the config's
``general_settings.database_url``. Exit codes: 0 applied or already up to date,
1 the database refused or a migration is inconsistent, 2 no database named.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from gateway.config.loader import ConfigError, load_config
from gateway.ledger.migrations import MigrationError, load_migrations, migrations_root
from gateway.ledger.postgres import migrate_database
from gateway.ledger.store import StoreUnavailable


def add_parser(commands: Any) -> None:
    """Add the ``migrate`` command to the CLI's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "migrate",
        help="apply the spend ledger's SQL migrations to DATABASE_URL",
        description="Apply migrations/postgres/*.sql that the database has not seen yet, "
        "in order, under an advisory lock (gateway serve does the same at start-up).",
    )
    parser.add_argument("--config", help="read general_settings.database_url from this config")
    parser.add_argument("--database-url", help="the Postgres URL (default: DATABASE_URL)")


def run_migrate(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url and args.config:
        try:
            general = load_config(args.config, dict(os.environ)).config.file.general_settings
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            return 1
        url = general.database_url.get_secret_value() if general.database_url else None
    if not url:
        print(
            "error: no database: set DATABASE_URL (or pass --database-url, or --config with "
            "general_settings.database_url). Without one the gateway keeps its ledger in an "
            "embedded SQLite file that migrates itself.",
            file=sys.stderr,
        )
        return 2
    root = migrations_root()
    try:
        known = load_migrations(root, "postgres")
        applied = asyncio.run(migrate_database(url, root))
    except (MigrationError, StoreUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in applied:
        print(f"applied {name}")
    print(f"the ledger schema is up to date ({len(known)} migrations, {len(applied)} new)")
    return 0

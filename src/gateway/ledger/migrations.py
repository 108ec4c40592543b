"""The versioned SQL files under ``migrations/<dialect>/``: ``0001_name.sql``, in order.

Each file is applied once and recorded with its checksum in
``gateway_schema_migrations``. A file that changed after it was applied is an
error, never silently re-run: migrations are append-only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_ENV = "GATEWAY_MIGRATIONS_DIR"
VERSION_TABLE = "gateway_schema_migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The migrations cannot be applied as they are (missing, edited, out of order)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_root(env: Mapping[str, str] | None = None) -> Path:
    """``$GATEWAY_MIGRATIONS_DIR``, else the repository's ``migrations/``."""
    override = (env if env is not None else os.environ).get(MIGRATIONS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "migrations"


def load_migrations(root: Path, dialect: str) -> list[Migration]:
    directory = root / dialect
    if not directory.is_dir():
        raise MigrationError(
            f"no migrations directory at {directory} (set {MIGRATIONS_ENV} to the "
            "repository's migrations/ folder)"
        )
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lowercase_name.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"{directory}: versions must run 1, 2, 3, ... without gaps")
    if not found:
        raise MigrationError(f"{directory}: no migration files")
    return found


def pending(
    migrations: Iterable[Migration], applied: Mapping[int, str], dialect: str
) -> list[Migration]:
    """The migrations still to apply, after checking the applied ones are unchanged."""
    todo = []
    known = {m.version for m in migrations}
    for migration in migrations:
        checksum = applied.get(migration.version)
        if checksum is None:
            todo.append(migration)
        elif checksum != migration.checksum:
            raise MigrationError(
                f"{dialect} migration {migration.name} was changed after it was applied; "
                "migrations are never edited: restore it and add a new file"
            )
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise MigrationError(
            f"the {dialect} database has migrations this build does not know "
            f"({', '.join(map(str, newer))}): run a newer gateway"
        )
    return todo
